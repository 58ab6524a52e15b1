package plugin

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/plugin/falcoplugin"
	"github.com/ruled/ruled/test/e2e"
)

// build compiles libruled.so and the C harness into a temporary directory.
func build(t *testing.T) (so, harness string) {
	t.Helper()
	dir := t.TempDir()
	so = filepath.Join(dir, "libruled.so")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", so, "./plugin")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build .so: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/falcosecurity/plugin-sdk-go").Output()
	if err != nil {
		t.Fatalf("find plugin-sdk-go: %v", err)
	}
	harness = filepath.Join(dir, "harness")
	inc := filepath.Join(strings.TrimSpace(string(out)), "pkg", "sdk")
	if out, err := exec.Command("gcc", "-O2", "-I", inc, "-o", harness, "../../plugin/harness/harness.c", "-ldl").CombinedOutput(); err != nil {
		t.Fatalf("build harness: %v\n%s", err, out)
	}
	return so, harness
}

func field(name string) string {
	for i, e := range falcoplugin.FieldEntries() {
		if e.Name == name {
			typ := map[string]int{"string": 9, "uint64": 8, "bool": 25, "abstime": 21}[e.Type]
			return fmt.Sprintf("%d:%d:0:%s", i, typ, name)
		}
	}
	panic(name)
}

// TestLiveProcconn opens the procconn source through the C ABI and checks
// that the exec of a child the test starts arrives with its pid.
func TestLiveProcconn(t *testing.T) {
	e2e.RequireRoot(t)
	so, harness := build(t)

	cmd := exec.Command(harness, so, `{"log_level":"warn"}`, "procconn", "live", "4",
		field("ruled.evt.type"), field("ruled.proc.pid"), field("ruled.proc.name"), field("ruled.proc.ppid"), field("ruled.evt.time"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	lines := make(chan string, 1<<16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // the test only needs the events of its child
			}
		}
	}()
	// Let the source subscribe before the child runs.
	time.Sleep(time.Second)
	child := exec.Command("/bin/sleep", "0.01")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(child.Process.Pid)

	// Fields of event N print in argument order: evt.type, proc.pid,
	// proc.name, proc.ppid.
	types := map[string]string{}
	pids := map[string]string{}
	var sawExec, sawExit bool
	var execName, execPPID string
	var end string
	for l := range lines {
		p := strings.Split(l, "\t")
		switch {
		case p[0] == "ERR" || (p[0] == "INIT" && p[1] != "0"):
			t.Fatalf("harness: %s", l)
		case p[0] == "END":
			end = p[1]
		case p[0] == "F" && p[2] == "ruled.evt.type" && len(p) > 4:
			types[p[1]] = p[4]
		case p[0] == "F" && p[2] == "ruled.proc.pid" && len(p) > 4:
			pids[p[1]] = p[4]
			if p[4] != pid {
				break
			}
			switch types[p[1]] {
			case "execve":
				sawExec = true
			case "exit":
				sawExit = true
			}
		case p[0] == "F" && p[2] == "ruled.proc.name" && len(p) > 4 && pids[p[1]] == pid && types[p[1]] == "execve":
			execName = p[4]
		case p[0] == "F" && p[2] == "ruled.proc.ppid" && len(p) > 4 && pids[p[1]] == pid && types[p[1]] == "execve":
			execPPID = p[4]
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("harness: %v", err)
	}
	if !sawExec || !sawExit {
		t.Errorf("child pid %s: exec seen %v, exit seen %v (harness delivered %s events)", pid, sawExec, sawExit, end)
	}
	// The process table enriched the bare proc connector exec.
	if execName != "sleep" || execPPID != strconv.Itoa(os.Getpid()) {
		t.Errorf("exec of %s: proc.name %q proc.ppid %q, want sleep and %d", pid, execName, execPPID, os.Getpid())
	}
}
