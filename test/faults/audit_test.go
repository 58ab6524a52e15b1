package faults

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFaultKernelBacklogOverflow: with a tiny kernel backlog (1 record),
// an exec storm overflows it. The kernel's lost records are counted by the
// agent and warned about; markers the audit side lost still arrive through
// the proc connector or are covered by a count; once the backlog is back,
// every event flows again.
func TestFaultKernelBacklogOverflow(t *testing.T) {
	s := newSuite(t, "audit:\n  backlog_limit: 1\n  backlog_wait: 1ms\n")
	if out, err := exec.Command("auditctl", "-b", "1").CombinedOutput(); err != nil {
		t.Fatalf("auditctl -b 1: %v\n%s", err, out)
	}
	lost0 := kernelLost(t)
	a := s.start(t)
	n := s.run(t, "storm", 3000, 4)
	if k := kernelLost(t); k <= lost0 {
		t.Fatalf("the kernel lost nothing (lost %d): the fault did not happen", k)
	}
	// The agent reads the kernel's figures every 5 s: its warning must
	// name the kernel's loss (also one from before its first look).
	warned := false
	for deadline := time.Now().Add(20 * time.Second); !warned && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, l := range strings.Split(a.Log(), "\n") {
			if w := lastLog(l, "audit events lost", ""); num(w, "kernel_lost") > 0 {
				warned = true
			}
		}
	}
	if !warned {
		t.Error("no \"audit events lost\" warning with the kernel's loss within 20 s")
	}
	got := waitMarkers(a, "storm", n, 10*time.Second)
	lost, st := auditLost(a.Log(), lost0)
	if num(st, "kernel_lost") <= lost0 {
		t.Errorf("the agent counted no kernel loss (kernel_lost %d, %d at start): %v", num(st, "kernel_lost"), lost0, st)
	}
	if got < n && lost == 0 {
		t.Errorf("%d of %d marker execs alerted and no loss was counted", got, n)
	}
	t.Logf("storm: %d of %d markers alerted; audit: %v", got, n, st)

	if out, err := exec.Command("auditctl", "-b", "8192").CombinedOutput(); err != nil {
		t.Fatalf("auditctl -b 8192: %v\n%s", err, out)
	}
	s.flows(t, a, "after")
	stop(t, a)
}

// TestFaultAuditSocketOverrun: the agent stopped (SIGSTOP) during an exec
// storm, so its audit socket and proc connector socket overflow. After
// SIGCONT the overruns are counted, the agent goes on, and events flow.
func TestFaultAuditSocketOverrun(t *testing.T) {
	s := newSuite(t, "")
	lost0 := kernelLost(t)
	a := s.start(t)
	s.flows(t, a, "before")
	if err := a.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	n := s.run(t, "stopped", 6000, 4)
	if err := a.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	a.WaitLog(t, "audit events lost", 20*time.Second)
	got := waitMarkers(a, "stopped", n, 20*time.Second)
	time.Sleep(1500 * time.Millisecond) // one more stats line
	lost, st := auditLost(a.Log(), lost0)
	pc := lastLog(a.Log(), "procconn stats", "")
	merge := lastLog(a.Log(), "exec merge stats", "")
	if num(st, "socket_drops") == 0 {
		t.Errorf("no audit socket overrun counted: %v", st)
	}
	if got < n && lost+num(pc, "lost")+num(pc, "overruns") == 0 {
		t.Errorf("%d of %d marker execs alerted and no loss was counted (audit %v, procconn %v)", got, n, st, pc)
	}
	// Markers missing here went out as proc connector execs without a name
	// (the process was gone when the agent resumed) whose audit twin came
	// after the merge window (late_audit), or were lost by the kernel.
	t.Logf("%d of %d markers alerted; audit %v; procconn %v; exec merge %v", got, n, st, pc, merge)
	s.flows(t, a, "after")
	stop(t, a)
	t.Logf("at exit: output %v; late evaluation %v; pipeline %v", lastLog(a.Log(), "output stats", "output=json"),
		lastLog(a.Log(), "late evaluation stats", ""), lastLog(a.Log(), "pipeline stats", ""))
}
