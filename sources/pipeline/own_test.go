package pipeline

import (
	"testing"

	"github.com/ruled/ruled/sources/enrichers/proctable"
	"github.com/ruled/ruled/sources/event"
)

// TestOwnHelperNotEvaluated: an event of a child of this process running
// this process's binary (the proc connector's exec readers) is ruled's
// machinery and goes to no rule; the same program under another parent, or
// another program under this parent, is evaluated as any other.
func TestOwnHelperNotEvaluated(t *testing.T) {
	p := &Pipeline{table: proctable.New(proctable.Config{}), self: 100, selfExe: "/usr/bin/ruled"}
	for _, tc := range []struct {
		ppid int
		exe  string
		own  bool
	}{
		{100, "/usr/bin/ruled", true},
		{1, "/usr/bin/ruled", false},
		{100, "/bin/sh", false},
	} {
		ev := &event.Event{}
		ev.Proc.PPID, ev.Proc.Exe = tc.ppid, tc.exe
		if got := p.ownHelper(ev); got != tc.own {
			t.Errorf("ppid %d exe %s: own %v, want %v", tc.ppid, tc.exe, got, tc.own)
		}
	}
	offline := &Pipeline{self: 100, selfExe: "/usr/bin/ruled"}
	ev := &event.Event{}
	ev.Proc.PPID, ev.Proc.Exe = 100, "/usr/bin/ruled"
	if offline.ownHelper(ev) {
		t.Error("a replayed event was taken for this process's helper")
	}
}
