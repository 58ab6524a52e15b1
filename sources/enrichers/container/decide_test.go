package container

import (
	"testing"

	"github.com/ruled/ruled/sources/event"
)

func TestDecide(t *testing.T) {
	const c1, c2, c3 = "c1", "c2", "c3"
	tests := []struct {
		name  string
		clues Clues
		want  string
	}{
		{"nothing known", Clues{}, ""},
		{"read at the exec beats all", Clues{Exec: c1, Now: c2, Before: c3, Parent: c3, ParentRuntime: c3}, c1},
		{"read now beats inheritance", Clues{Now: c2, Before: c3, Parent: c3}, c2},
		{"read now: host is an answer", Clues{Now: event.HostID, Before: c3, ParentRuntime: c3}, event.HostID},
		{"what it had", Clues{Before: c3, Parent: c2}, c3},
		{"its parent's", Clues{Parent: c2}, c2},
		{"runtime child gone before its cgroup read", Clues{Before: event.HostID, Parent: event.HostID, ParentRuntime: c1}, c1},
		{"runtime child with no copy", Clues{ParentRuntime: c1}, c1},
		{"a container id it had beats the runtime's naming", Clues{Before: c2, ParentRuntime: c1}, c2},
		{"recorded last", Clues{Recorded: c1}, c1},
		{"recorded does not beat the table", Clues{Before: c2, Recorded: c1}, c2},
		{"host mount namespace, nothing known: host", Clues{HostMount: true}, event.HostID},
		{"host mount namespace, host kin: host", Clues{HostMount: true, Before: event.HostID, Parent: event.HostID}, event.HostID},
		{"host mount namespace, escaped: what it had", Clues{HostMount: true, Before: c1, Parent: c2}, c1},
		{"host mount namespace, escaped: its parent's", Clues{HostMount: true, Before: event.HostID, Parent: c2}, c2},
		{"host mount namespace, escaped, no entry: its parent's", Clues{HostMount: true, Parent: c2}, c2},
		{"host mount namespace: a runtime's child is on the host", Clues{HostMount: true, Before: event.HostID, Parent: event.HostID, ParentRuntime: c1}, event.HostID},
		{"host mount namespace: a recording does not count", Clues{HostMount: true, Recorded: c1}, event.HostID},
		{"a cgroup read beats the host mount namespace", Clues{HostMount: true, Exec: c3, Before: c1, Parent: c2}, c3},
		{"a cgroup read now beats the host mount namespace", Clues{HostMount: true, Now: event.HostID, Before: c1}, event.HostID},
	}
	for _, tt := range tests {
		if got := Decide(tt.clues); got != tt.want {
			t.Errorf("%s: Decide(%+v) = %q, want %q", tt.name, tt.clues, got, tt.want)
		}
	}
}
