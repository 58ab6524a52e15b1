package e2e

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Dockerd is the machine's running dockerd, remembered so that a test may
// stop or kill it and start it again as it was started (test/setup.sh adds
// a runtime). Such tests stop every other Docker test on the machine
// meanwhile, so they run only when RULED_E2E_RESTART_DOCKERD=1 (.ci/run sets
// it on CI's machine of its own).
type Dockerd struct {
	PID  int
	argv []string
}

// RequireDockerdRestart skips (outside CI) or fails (under CI) unless the
// test may stop dockerd, and returns the running one.
func RequireDockerdRestart(t *testing.T) *Dockerd {
	t.Helper()
	RequireDocker(t)
	if os.Getenv("RULED_E2E_RESTART_DOCKERD") != "1" {
		t.Skip("stops the shared dockerd; set RULED_E2E_RESTART_DOCKERD=1 on a dedicated machine")
	}
	out, err := exec.Command("pgrep", "-x", "dockerd").Output()
	if err != nil {
		t.Fatalf("dockerd not found: %v", err)
	}
	pid, _ := strconv.Atoi(strings.Fields(string(out))[0])
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatalf("dockerd command line: %v", err)
	}
	d := &Dockerd{PID: pid, argv: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")}
	t.Cleanup(func() { d.Restart(t) })
	return d
}

// Restart starts dockerd again once the old one has exited, and waits for
// its API; a no-op while the API answers.
func (d *Dockerd) Restart(t testing.TB) {
	t.Helper()
	if exec.Command("docker", "info").Run() == nil {
		return
	}
	// The API goes away at the start of a shutdown that takes seconds more
	// (it stops containers); a second dockerd started meanwhile finds the
	// pid file and exits.
	deadline := time.Now().Add(60 * time.Second)
	for exec.Command("pgrep", "-x", "dockerd").Run() == nil {
		if time.Now().After(deadline) {
			t.Error("the old dockerd did not exit")
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	log, err := os.OpenFile("/var/log/ruled-test-dockerd.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Errorf("dockerd log: %v", err)
		return
	}
	defer log.Close()
	// A test run under `flock /tmp/ruled-kernel.lock` inherited the lock's
	// descriptor; a daemon that kept it would hold the machine's kernel
	// lock long after the test.
	CloseInheritedOnExec()
	cmd := exec.Command(d.argv[0], d.argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own session: it must outlive this test process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Errorf("restart dockerd: %v", err)
		return
	}
	d.PID = cmd.Process.Pid
	_ = os.WriteFile("/run/ruled-test-dockerd.pid", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	_ = cmd.Process.Release()
	deadline = time.Now().Add(60 * time.Second)
	for exec.Command("docker", "info").Run() != nil {
		if time.Now().After(deadline) {
			t.Error("dockerd did not come back")
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// CloseInheritedOnExec marks the descriptors this process inherited beyond
// stdio close-on-exec (the ones Go opens are already), so that daemons a
// test starts and leaves running do not keep them open.
func CloseInheritedOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
