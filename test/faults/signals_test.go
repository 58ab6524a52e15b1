package faults

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

// TestFaultSIGHUPStorm: 100 SIGHUPs within a second leave the agent
// running, its rules reloaded, and events flowing.
func TestFaultSIGHUPStorm(t *testing.T) {
	s := newSuite(t, "")
	a := s.start(t)
	s.flows(t, a, "before")
	for range 100 {
		if err := a.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("SIGHUP: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !a.Running() {
		t.Fatal("the agent exited under a SIGHUP storm")
	}
	a.WaitLog(t, "rules reloaded", 10*time.Second)
	if strings.Contains(a.Log(), "rule reload failed") {
		t.Error("a reload failed with the rules unchanged")
	}
	s.flows(t, a, "after")
	stop(t, a)
}

// TestFaultRulesDirDeleted: the rules directory deleted under a running
// agent, then SIGHUP: the reload fails, the running rules stay (the marker
// rule, which lived in that directory, still alerts), and a later SIGHUP
// with the directory back reloads.
func TestFaultRulesDirDeleted(t *testing.T) {
	s := newSuite(t, "")
	a := s.start(t)
	s.flows(t, a, "before")
	saved, err := os.ReadFile(s.rulesDir + "/marker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(s.rulesDir); err != nil {
		t.Fatal(err)
	}
	if err := a.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	a.WaitLog(t, "rule reload failed; keeping the running rules", 10*time.Second)
	s.flows(t, a, "deleted")

	if err := os.Mkdir(s.rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.rulesDir+"/marker.yaml", saved, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	a.WaitLog(t, "rules reloaded", 10*time.Second)
	s.flows(t, a, "restored")
	stop(t, a)
}

// TestFaultSIGHUPDuringStart: SIGHUPs from the agent's first log line until
// it runs (a logrotate while it loads rules and reads /proc) must not kill
// it, and the last one still reloads.
func TestFaultSIGHUPDuringStart(t *testing.T) {
	s := newSuite(t, "")
	a := e2e.StartAgent(t, s.bin, nil, "-config", s.config, "-rules", "builtin", "-rules", s.rulesDir, "-output", "json")
	a.WaitLog(t, "rules loaded", 30*time.Second)
	sent := 0
	// At least one, even when the start won the race: the last must reload.
	for deadline := time.Now().Add(30 * time.Second); sent == 0 || !strings.Contains(a.Log(), "ruled running"); sent++ {
		if !a.Running() || time.Now().After(deadline) {
			break
		}
		_ = a.Cmd.Process.Signal(syscall.SIGHUP)
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if !a.Running() {
		code, _ := a.Wait(time.Second)
		t.Fatalf("the agent died (exit %d) of a SIGHUP while starting (%d sent)", code, sent)
	}
	a.WaitLog(t, "rules reloaded", 10*time.Second)
	a.WaitLog(t, "audit rules installed", 10*time.Second)
	s.flows(t, a, "after")
	stop(t, a)
}
