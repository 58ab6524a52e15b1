package pipeline

import (
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

func TestWatchTracker(t *testing.T) {
	w := newWatchTracker([]string{"/etc", "/etc/ssh", "/root/.ssh"})
	t0 := time.Unix(1000, 0)
	ev := func(id, typ, file string, write bool) *event.Event {
		e := &event.Event{}
		e.Evt.Type, e.Evt.Success = typ, true
		e.Proc.PID, e.Container.ID = 42, id
		e.File.Path, e.File.Write = file, write
		return e
	}
	steps := []struct {
		name string
		ev   *event.Event
		at   time.Duration
		want bool
	}{
		{"host event", ev(event.HostID, event.TypeExecve, "", false), 0, false},
		{"first event of a container", ev("c1", event.TypeExecve, "", false), 0, true},
		{"next event", ev("c1", event.TypeExecve, "", false), time.Second, false},
		{"write elsewhere", ev("c1", event.TypeOpen, "/tmp/x", true), 2 * time.Second, false},
		{"write into a watched dir", ev("c1", event.TypeOpen, "/root/.ssh/id_rsa", true), 3 * time.Second, true},
		{"read of a watched dir", ev("c1", event.TypeOpen, "/root/.ssh/id_rsa", false), 4 * time.Second, false},
		{"rename onto the way to one", ev("c1", event.TypeRename, "/root", false), 5 * time.Second, true},
		{"later ordinary event", ev("c1", event.TypeExecve, "", false), 16 * time.Second, true},
		{"another container", ev("c2", event.TypeConnect, "", false), 16 * time.Second, true},
	}
	for _, s := range steps {
		if got := w.due(s.ev, t0.Add(s.at)); got != s.want {
			t.Errorf("%s: due=%v, want %v", s.name, got, s.want)
		}
	}
}
