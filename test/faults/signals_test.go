package faults

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
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
