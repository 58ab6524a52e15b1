package faults

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

// containerAlert waits up to d for an alert of rule on container name,
// running cmd in the container every second (its audit watch copies come
// with its first events).
func containerAlert(t *testing.T, a *e2e.Agent, rule, name string, d time.Duration, cmd ...string) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_ = exec.Command("docker", append([]string{"exec", name}, cmd...)...).Run()
		for wait := time.Now().Add(time.Second); time.Now().Before(wait); time.Sleep(50 * time.Millisecond) {
			for _, l := range a.Lines() {
				var al alertLine
				if json.Unmarshal(l, &al) == nil && al.Rule == rule && al.OutputFields["container.name"] == name {
					return true
				}
			}
		}
	}
	return false
}

func runBox(t *testing.T, name string) { runBoxCmd(t, name, "sleep", "300") }

// runBoxCmd starts a container of the test image running cmd, removed
// when the test ends.
func runBoxCmd(t *testing.T, name string, cmd ...string) {
	t.Helper()
	_ = exec.Command("docker", "rm", "-f", name).Run()
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	args := append([]string{"run", "-d", "--name", name, "--network", "none", e2e.TestImage}, cmd...)
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker run %s: %v\n%s", name, err, out)
	}
}

func e2eDocker(t *testing.T) { e2e.RequireDocker(t) }

// TestFaultDockerdKilled: dockerd SIGKILLed under a running agent, then
// started again. While it is gone host events keep flowing; once it is
// back, a container started after the restart alerts with its name.
func TestFaultDockerdKilled(t *testing.T) {
	d := e2e.RequireDockerdRestart(t)
	s := newSuite(t, "")
	a := s.start(t)
	const rule = "Read sensitive file untrusted"
	before := fmt.Sprintf("ruled-auditsafe-fault-before-%d", os.Getpid())
	runBox(t, before)
	if !containerAlert(t, a, rule, before, 15*time.Second, "cat", "/etc/shadow") {
		t.Fatalf("no %q alert named %s before the fault", rule, before)
	}

	if err := syscall.Kill(d.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 dockerd: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); exec.Command("docker", "info").Run() == nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Docker API still answers 10 s after kill -9 dockerd")
		}
	}
	s.flows(t, a, "dockerd-dead")
	d.Restart(t)
	if t.Failed() {
		t.FailNow()
	}

	after := fmt.Sprintf("ruled-auditsafe-fault-after-%d", os.Getpid())
	runBox(t, after)
	if !containerAlert(t, a, rule, after, 30*time.Second, "cat", "/etc/shadow") {
		t.Errorf("no %q alert named %s (started after dockerd came back) within 30 s", rule, after)
	}
	s.flows(t, a, "dockerd-back")
	if !a.Running() {
		t.Fatal("the agent exited")
	}
	stop(t, a)
	if strings.Contains(a.Log(), "level=ERROR") {
		t.Logf("errors logged (expected while dockerd was down):\n%s", grepLines(a.Log(), "level=ERROR", 10))
	}
}

func grepLines(s, sub string, max int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && len(out) < max {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
