package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/sources/container"
	"github.com/ruled/ruled/sources/event"
)

// nameWait bounds how long an alert waits for its container's name.
const nameWait = 2 * time.Second

// alertNamer gives alerts raised in a container's first moments the name
// and image the runtime had not answered yet. Container metadata is looked
// up off the event path, so the first events of a new container carry only
// its id; an alert on one of them waits here (never the event path) until
// the lookup answers or nameWait passes, is rendered again with the name,
// and goes on to the outputs. Alerts that need no name pass straight on.
type alertNamer struct {
	queue  chan pendingAlert
	lookup func(ctx context.Context, id string) (container.Info, error)
	enrich func(*event.Event)
	engine func() *engine.Engine
	send   func(event.Alert)

	named, unnamed, overflow atomic.Uint64
}

type pendingAlert struct {
	a        event.Alert
	deadline time.Time
}

func newAlertNamer(res *container.Resolver, eng func() *engine.Engine, send func(event.Alert)) *alertNamer {
	return &alertNamer{
		queue:  make(chan pendingAlert, 1024),
		lookup: res.Lookup,
		enrich: res.Enrich,
		engine: eng,
		send:   send,
	}
}

// offer takes an alert that lacks its container's name and reports true;
// false means the caller sends it as it is.
func (n *alertNamer) offer(a event.Alert) bool {
	ev := a.Event
	if ev == nil || ev.Container.Name != "" || ev.Container.ID == "" || ev.Container.ID == event.HostID {
		return false
	}
	// Its own copy: the pipeline's other alerts share the event.
	cp := *ev
	a.Event = &cp
	select {
	case n.queue <- pendingAlert{a: a, deadline: time.Now().Add(nameWait)}:
		return true
	default:
		n.overflow.Add(1)
		return false
	}
}

// run names and sends queued alerts until ctx ends, then sends what is
// left as it is.
func (n *alertNamer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case p := <-n.queue:
					n.unnamed.Add(1)
					n.send(p.a)
				default:
					return
				}
			}
		case p := <-n.queue:
			lctx, cancel := context.WithDeadline(ctx, p.deadline)
			_, err := n.lookup(lctx, p.a.Event.Container.ID)
			cancel()
			if err == nil {
				n.enrich(p.a.Event)
			}
			if err == nil && p.a.Event.Container.Name != "" && n.engine().Rerender(&p.a) {
				n.named.Add(1)
			} else {
				n.unnamed.Add(1)
			}
			n.send(p.a)
		}
	}
}
