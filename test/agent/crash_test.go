package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/sensors/audit"
	"github.com/ruled/ruled/test/e2e"
)

// These tests kill the agent binary the hard way (SIGKILL, a panic) and
// check that audit ends up exactly as it was before the agent started: by
// the guardian the agent starts beside itself, by the next start, and by
// `ruled recover`, in unicast and multicast mode.

var modes = []string{audit.ModeUnicast, audit.ModeMulticast}

// rulesOf counts the loaded rules that carry run pid's "-F pid!=PID" filter.
func rulesOf(st e2e.AuditState, pid int) int {
	n := 0
	for _, r := range st.Rules {
		if strings.Contains(r+" ", " -F pid!="+strconv.Itoa(pid)+" ") {
			n++
		}
	}
	return n
}

var guardianRE = regexp.MustCompile(`audit guardian started" guardian_pid=(\d+)`)

func guardianPID(t *testing.T, a *e2e.Agent) int {
	t.Helper()
	m := guardianRE.FindStringSubmatch(a.Log())
	if m == nil {
		t.Fatal("the agent logged no audit guardian")
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// kill9 SIGKILLs pid and waits until it is gone (or a zombie).
func kill9(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, running, _ := audit.ProcStart(os.DirFS("/proc"), pid); !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs 10 s after SIGKILL", pid)
		}
	}
}

// crash starts the agent in mode, lets it install its rules, then kills
// the agent and its guardian with SIGKILL, and returns the dead agent's pid
// and how many rules it left (the damage the recovery must undo).
func crash(t *testing.T, bin, mode string) (pid, left int) {
	t.Helper()
	a := e2e.StartAgent(t, bin, nil, "-sources", "audit", "-audit-mode", mode, "-output", "json")
	a.WaitLog(t, "ruled running", 30*time.Second)
	a.WaitLog(t, "audit rules installed", 10*time.Second)
	kill9(t, guardianPID(t, a))
	kill9(t, a.PID())
	if _, err := a.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	st := e2e.ReadAuditState(t)
	left = rulesOf(st, a.PID())
	if left == 0 {
		t.Fatalf("the killed agent left no rules: the test cannot tell a recovery from nothing (rules %q)", st.Rules)
	}
	if _, err := os.Stat(fmt.Sprintf("%s/audit-%d.json", audit.DefaultStateDir, a.PID())); err != nil {
		t.Fatalf("the killed agent left no state record: %v", err)
	}
	return a.PID(), left
}

// waitRestored polls until audit equals before again.
func waitRestored(t *testing.T, before e2e.AuditState, d time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		diff := before.Diff(e2e.ReadAuditState(t))
		if len(diff) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: audit not as found after %v:\n%s", what, d, strings.Join(diff, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCrashNextStartRecovers: after a SIGKILL (guardian killed too), the
// next start removes every rule of the dead run, restores what the dead run
// found, and records that original state, not the crashed one, as what it
// must put back; its clean stop then leaves audit as it was before either.
func TestCrashNextStartRecovers(t *testing.T) {
	e2e.RequireRoot(t)
	bin := e2e.RuledBinary(t)
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			before := e2e.SaveAudit(t)
			dead, left := crash(t, bin, mode)

			b := e2e.StartAgent(t, bin, nil, "-sources", "audit", "-audit-mode", mode, "-output", "json")
			b.WaitLog(t, "audit rules installed", 30*time.Second)
			if !strings.Contains(b.Log(), "audit state of a dead run put back") {
				t.Error("the start did not log the recovery of the dead run")
			}
			now := e2e.ReadAuditState(t)
			if n := rulesOf(now, dead); n != 0 {
				t.Errorf("%d rules of the dead run %d survived the next start", n, dead)
			}
			if n := rulesOf(now, b.PID()); n != left {
				t.Errorf("the new run has %d rules, the dead one had %d", n, left)
			}
			if len(now.Rules) != len(before.Rules)+left {
				t.Errorf("%d rules loaded, want %d (as found) + %d (the new run's)", len(now.Rules), len(before.Rules), left)
			}
			var rec audit.State
			raw, err := os.ReadFile(fmt.Sprintf("%s/audit-%d.json", audit.DefaultStateDir, b.PID()))
			if err != nil {
				t.Fatalf("the running agent's state record: %v", err)
			}
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatalf("state record: %v", err)
			}
			for k, v := range map[string]uint32{"enabled": rec.Found.Enabled, "backlog_limit": rec.Found.BacklogLimit, "backlog_wait_time": rec.Found.BacklogWaitTime, "failure": rec.Found.Failure} {
				if strconv.FormatUint(uint64(v), 10) != before.Settings[k] {
					t.Errorf("the new run recorded %s=%d as found, want the original %s", k, v, before.Settings[k])
				}
			}
			if code, err := b.Stop(20 * time.Second); code != 0 || err != nil {
				t.Errorf("stop: exit %d, %v", code, err)
			}
			waitRestored(t, before, time.Second, "after the clean stop of the run that recovered")
		})
	}
}

// TestCrashRecoverCommand: `ruled recover` (what systemd's ExecStopPost=
// runs) puts back what a SIGKILLed agent left, then finds nothing to do.
func TestCrashRecoverCommand(t *testing.T) {
	e2e.RequireRoot(t)
	bin := e2e.RuledBinary(t)
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			before := e2e.SaveAudit(t)
			dead, _ := crash(t, bin, mode)
			out, err := exec.Command(bin, "recover").CombinedOutput()
			if err != nil {
				t.Fatalf("ruled recover: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), fmt.Sprintf("recovered the audit state of dead run %d", dead)) {
				t.Errorf("ruled recover output:\n%s", out)
			}
			waitRestored(t, before, 0, "after ruled recover")
			out, err = exec.Command(bin, "recover").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "nothing to recover") {
				t.Errorf("second ruled recover: %v\n%s", err, out)
			}
		})
	}
}

// TestCrashGuardianRecovers: a SIGKILL of the agent alone is undone by its
// guardian within moments, without any restart.
func TestCrashGuardianRecovers(t *testing.T) {
	e2e.RequireRoot(t)
	bin := e2e.RuledBinary(t)
	before := e2e.SaveAudit(t)
	a := e2e.StartAgent(t, bin, nil, "-sources", "audit", "-output", "json")
	a.WaitLog(t, "audit rules installed", 30*time.Second)
	if rulesOf(e2e.ReadAuditState(t), a.PID()) == 0 {
		t.Fatal("the agent installed no rules")
	}
	kill9(t, a.PID())
	waitRestored(t, before, 5*time.Second, "after SIGKILL, by the guardian")
	if _, err := os.Stat(fmt.Sprintf("%s/audit-%d.json", audit.DefaultStateDir, a.PID())); err == nil {
		t.Error("the state record of the recovered run is still there")
	}
}

// TestPanicRestores: a panic on a goroutine (the test-only trigger
// RULED_TEST_PANIC_AFTER) ends the agent with Go's exit code 2 and leaves
// audit as it was found.
func TestPanicRestores(t *testing.T) {
	e2e.RequireRoot(t)
	bin := e2e.RuledBinary(t)
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			before := e2e.SaveAudit(t)
			a := e2e.StartAgent(t, bin, []string{"RULED_TEST_PANIC_AFTER=3s"}, "-sources", "audit", "-audit-mode", mode, "-output", "json")
			a.WaitLog(t, "audit rules installed", 30*time.Second)
			if rulesOf(e2e.ReadAuditState(t), a.PID()) == 0 {
				t.Fatal("the agent installed no rules")
			}
			code, err := a.Wait(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if code != 2 || !strings.Contains(a.Log(), "test-only panic") {
				t.Fatalf("exit code %d, want 2 from the panic", code)
			}
			waitRestored(t, before, 5*time.Second, "after a panic")
		})
	}
}

// TestCrashContainerCopies: the per-container copies of the path= rules a
// killed run added go with the rest at the next start.
func TestCrashContainerCopies(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)
	before := e2e.SaveAudit(t)
	a := e2e.StartAgent(t, bin, nil, "-output", "json")
	a.WaitLog(t, "audit rules installed", 30*time.Second)
	base := rulesOf(e2e.ReadAuditState(t), a.PID())
	name := fmt.Sprintf("ruled-auditsafe-copies-%d", os.Getpid())
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	if out, err := exec.Command("docker", "run", "-d", "--name", name, "--network", "none", e2e.TestImage, "sleep", "120").CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	copies := 0
	for deadline := time.Now().Add(15 * time.Second); copies == 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		_ = exec.Command("docker", "exec", name, "cat", "/etc/hostname").Run()
		copies = rulesOf(e2e.ReadAuditState(t), a.PID()) - base
	}
	if copies <= 0 {
		t.Fatalf("no container copy of the path= rules within 15 s (rules %d)", base)
	}
	kill9(t, guardianPID(t, a))
	kill9(t, a.PID())
	if n := rulesOf(e2e.ReadAuditState(t), a.PID()); n != base+copies {
		t.Fatalf("after the kill %d rules of the dead run, want %d + %d copies", n, base, copies)
	}
	b := e2e.StartAgent(t, bin, nil, "-sources", "audit", "-output", "json")
	b.WaitLog(t, "audit rules installed", 30*time.Second)
	if n := rulesOf(e2e.ReadAuditState(t), a.PID()); n != 0 {
		t.Errorf("%d rules of the dead run survived the next start (it had %d of its own and %d container copies)", n, base, copies)
	}
	if code, err := b.Stop(20 * time.Second); code != 0 || err != nil {
		t.Errorf("stop: exit %d, %v", code, err)
	}
	_ = exec.Command("docker", "rm", "-f", name).Run()
	waitRestored(t, before, 2*time.Second, "after the clean stop of the run that recovered")
}
