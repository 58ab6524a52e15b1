package proctable

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
	"testing"
)

// inSessionEnv marks the test binary re-run in a session of its own.
const inSessionEnv = "RULED_PROCTABLE_OWN_SESSION"

// TestMain re-runs the tests in a new session when this process's session
// is not visible in its pid namespace (getsid says 0, as in a container
// whose session leader lives outside it) or it has no visible parent. The
// live tests read this process's own /proc entry, and a session of 0 reads
// as "the event carries no session", which is not the case they test.
func TestMain(m *testing.M) {
	if os.Getenv(inSessionEnv) == "" && (mustGetsid() == 0 || os.Getppid() == 0) {
		os.Exit(rerunInOwnSession())
	}
	os.Exit(m.Run())
}

func mustGetsid() int {
	sid, err := unix.Getsid(0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "getsid: %v\n", err)
		os.Exit(2)
	}
	return sid
}

func rerunInOwnSession() int {
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), inSessionEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "re-run the tests in a session of their own: %v\n", err)
		return 2
	}
}
