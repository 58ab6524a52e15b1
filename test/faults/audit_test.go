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
// storm, so its audit socket and proc connector socket overflow and the
// kernel's audit backlog overflows behind them. After SIGCONT the overruns
// are counted, the agent goes on, and events flow. Every marker exec
// either alerts or is in a count the agent logs: a proc connector exec
// that went out with no name (its process was gone by the time the agent
// read it, and audit's record was lost or came too late to merge) is
// alone_unnamed; one the proc connector lost is in its lost count. A
// marker alert whose command line lost its arguments (the kernel dropped
// the exec's EXECVE record, not its SYSCALL) is an exec that alerted.
func TestFaultAuditSocketOverrun(t *testing.T) {
	s := newSuite(t, "")
	lost0 := kernelLost(t)
	a := s.start(t)
	s.flows(t, a, "before")
	time.Sleep(1500 * time.Millisecond) // a stats line after the warm-up
	merge0 := lastLog(a.Log(), "exec merge stats", "")
	pc0 := lastLog(a.Log(), "procconn stats", "")
	from := len(a.Lines())
	if err := a.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	n := s.run(t, "stopped", 6000, 4)
	if err := a.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	a.WaitLog(t, "audit events lost", 20*time.Second)
	got, untagged := waitMarkersFrom(a, "stopped", from, n, 20*time.Second)
	time.Sleep(1500 * time.Millisecond) // one more stats line
	_, st := auditLost(a.Log(), lost0)
	pc := lastLog(a.Log(), "procconn stats", "")
	merge := lastLog(a.Log(), "exec merge stats", "")
	if num(st, "socket_drops") == 0 && num(st, "kernel_lost") <= lost0 {
		t.Errorf("no audit overrun or kernel loss counted: the fault did not happen: %v", st)
	}
	for _, k := range []string{"seq_lost", "orphan_events"} {
		if _, ok := st[k]; !ok {
			t.Errorf("the audit stats do not say how many events were lost (%s): %v", k, st)
		}
	}
	if _, ok := merge["alone_unnamed"]; !ok {
		t.Errorf("the exec merge stats do not count execs that went out unnamed: %v", merge)
	}
	unnamed := num(merge, "alone_unnamed") - num(merge0, "alone_unnamed")
	pcLost := num(pc, "lost") - num(pc0, "lost")
	if missing := n - got - untagged - int(unnamed+pcLost); missing > 0 {
		t.Errorf("%d of %d marker execs alerted (%d more without arguments), and only %d more are counted (alone_unnamed %d, procconn lost %d): %d are missing without a count (audit %v, procconn %v, exec merge %v)",
			got, n, untagged, unnamed+pcLost, unnamed, pcLost, missing, st, pc, merge)
	}
	t.Logf("%d of %d markers alerted (%d more without arguments), %d went out unnamed, procconn lost %d; audit %v; procconn %v; exec merge %v", got, n, untagged, unnamed, pcLost, st, pc, merge)
	s.flows(t, a, "after")
	stop(t, a)
	t.Logf("at exit: output %v; late evaluation %v; intake %v", lastLog(a.Log(), "output stats", "output=json"),
		lastLog(a.Log(), "late evaluation stats", ""), lastLog(a.Log(), "stage stats", "stage=intake"))
}
