package pipeline

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/event"
)

func TestLateEval(t *testing.T) {
	known := map[string]container.Info{"c1": {ID: "c1", Name: "web", Privileged: true}}
	answered := map[string]bool{"c0": true}
	var mu sync.Mutex
	var got []event.Event
	l := &lateEval{
		queue:   make(chan pendingEvent, 2),
		pending: func(id string) bool { return id != event.HostID && !answered[id] },
		lookup: func(ctx context.Context, id string) (container.Info, error) {
			if i, ok := known[id]; ok {
				return i, nil
			}
			<-ctx.Done() // a hung daemon: the event's deadline ends the wait
			return container.Info{}, ctx.Err()
		},
		enrich: func(ev *event.Event) {
			if i, ok := known[ev.Container.ID]; ok {
				ev.Container.Name, ev.Container.Privileged = i.Name, i.Privileged
			}
		},
		eval: func(ev *event.Event) {
			mu.Lock()
			got = append(got, *ev)
			mu.Unlock()
		},
	}
	ev := func(id string) *event.Event {
		e := &event.Event{}
		e.Evt.Type, e.Container.ID = event.TypeExecve, id
		return e
	}
	if l.offer(ev(event.HostID)) || l.offer(ev("c0")) {
		t.Error("events that need no wait were held")
	}
	if !l.offer(ev("c1")) || !l.offer(ev("c2")) {
		t.Fatal("events of pending containers were not held")
	}
	if l.offer(ev("c3")) || l.overflow.Load() != 1 {
		t.Error("a full queue must hand the event back and count it")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if len(got) != 2 {
		t.Fatalf("evaluated %d events, want 2", len(got))
	}
	if got[0].Container.Name != "web" || !got[0].Container.Privileged {
		t.Errorf("c1 evaluated without its metadata: %+v", got[0].Container)
	}
	if got[1].Container.ID != "c2" || got[1].Container.Name != "" {
		t.Errorf("c2 after the wait: %+v", got[1].Container)
	}
	if l.deferred.Load() != 2 || l.unresolved.Load() != 1 {
		t.Errorf("deferred %d unresolved %d", l.deferred.Load(), l.unresolved.Load())
	}
}
