package agent

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

// TestProcconnOnlyJVMShell: `ruled -sources procconn` (no kernel audit at
// all) alerts on a JVM spawning a shell in a container, with the parent
// fields and the container's id and name right, and exits 0 on SIGTERM.
func TestProcconnOnlyJVMShell(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)

	// The JVM stand-in: the scenario suite's multi-call helper, run as
	// "java", which starts its arguments as a child like Runtime.exec.
	dir := t.TempDir()
	java := filepath.Join(dir, "java")
	build := exec.Command("go", "build", "-trimpath", "-o", java, "github.com/ruled/ruled/test/scenarios/helpers")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build java stand-in: %v\n%s", err, out)
	}

	a := e2e.StartAgent(t, bin, nil, "-sources", "procconn", "-output", "json", "-log-level", "info")
	a.WaitLog(t, "ruled running", 20*time.Second)
	started := a.Log()
	if !strings.Contains(started, "running=procconn") || strings.Contains(started, "running=audit") {
		t.Errorf("want only the procconn source running; log:\n%s", started)
	}

	name := fmt.Sprintf("ruled-agent-jvm-%d", os.Getpid())
	out, err := exec.Command("docker", "run", "-d", "--name", name, "--network", "none",
		"-v", java+":/usr/local/bin/java:ro", e2e.TestImage, "sleep", "60").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	time.Sleep(500 * time.Millisecond) // the container's name reaches ruled's cache
	// The shell lives a moment, so /proc still has it when its exec is seen:
	// the proc connector reports only pids.
	if out, err := exec.Command("docker", "exec", name, "java", "/bin/sh", "-c", "/bin/sleep 0.3").CombinedOutput(); err != nil {
		t.Fatalf("docker exec java: %v\n%s", err, out)
	}

	got := a.WaitAlert(t, 10*time.Second, "Shell spawned by JVM in "+id[:12], func(al e2e.Alert) bool {
		return al.Rule == "Shell spawned by JVM" && al.Field("container.id") == id
	})
	for k, want := range map[string]string{
		"proc.name":      "sh",
		"proc.pname":     "java",
		"container.name": name,
		"evt.type":       "execve",
	} {
		if v := got.Field(k); v != want {
			t.Errorf("alert %s = %q, want %q (output %q)", k, v, want, got.Output)
		}
	}
	if !strings.Contains(got.Field("proc.pcmdline"), "java /bin/sh -c") {
		t.Errorf("alert proc.pcmdline = %q, want the java command line", got.Field("proc.pcmdline"))
	}
	if code, err := a.Stop(20 * time.Second); code != 0 || err != nil {
		t.Errorf("ruled exit after SIGTERM: %d, %v", code, err)
	}
	checkStageStats(t, a.Log())
}

var stageRE = regexp.MustCompile(`msg="stage stats" stage=(\w+) received=(\d+) passed=(\d+) dropped=(\d+)`)

// checkStageStats reads the event path's counters the agent logs at stop:
// what entered the path left it (nothing is held at stop), and the engine
// saw every enriched event and alerted.
func checkStageStats(t *testing.T, log string) {
	t.Helper()
	type counts struct{ received, passed, dropped uint64 }
	last := map[string]counts{}
	for _, m := range stageRE.FindAllStringSubmatch(log, -1) {
		var c counts
		fmt.Sscan(m[2], &c.received)
		fmt.Sscan(m[3], &c.passed)
		fmt.Sscan(m[4], &c.dropped)
		last[m[1]] = c
	}
	in, en, late, eng := last["intake"], last["enrich"], last["late"], last["engine"]
	if len(last) == 0 || in.received == 0 {
		t.Fatalf("no stage stats at stop; log:\n%s", log)
	}
	if in.passed+in.dropped != in.received || en.received != in.passed || en.passed != en.received {
		t.Errorf("intake %+v enrich %+v: procconn alone, every event taken in is enriched", in, en)
	}
	if late.passed != late.received || eng.received != en.passed || eng.passed == 0 {
		t.Errorf("late %+v engine %+v enrich %+v: every enriched event is evaluated (the deferred ones too), with alerts", late, eng, en)
	}
}
