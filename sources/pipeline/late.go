package pipeline

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/event"
)

// metadataWait bounds how long an event waits for its container's metadata.
const metadataWait = 2 * time.Second

// lateQueue bounds the events waiting for metadata at once.
const lateQueue = 4096

// lateEval evaluates the events of a container the runtime has not
// answered for yet (its first moments: the lookup starts with its first
// event) once the answer is in, so rules on container.privileged or
// container.image see the truth and alerts carry the name. Such events wait
// here, beside the event path, never on it: until the runtime answers or
// metadataWait passes, then they are evaluated with what is known. A full
// queue evaluates at once.
type lateEval struct {
	queue   chan pendingEvent
	pending func(id string) bool
	lookup  func(ctx context.Context, id string) (container.Info, error)
	enrich  func(*event.Event)
	eval    func(*event.Event)

	deferred, unresolved, overflow, passed atomic.Uint64
}

type pendingEvent struct {
	ev       *event.Event
	deadline time.Time
}

func newLateEval(res *container.Resolver, eval func(*event.Event)) *lateEval {
	return &lateEval{
		queue:   make(chan pendingEvent, lateQueue),
		pending: res.Pending,
		lookup:  res.Lookup,
		enrich:  res.Enrich,
		eval:    eval,
	}
}

// offer takes an event whose container's metadata is still being looked
// up and reports true; false means the caller evaluates it now.
func (l *lateEval) offer(ev *event.Event) bool {
	if ev.Container.Name != "" {
		return false
	}
	if !l.pending(ev.Container.ID) {
		// The answer may have come between the event's enrichment and
		// now: take it.
		l.enrich(ev)
		return false
	}
	cp := *ev
	select {
	case l.queue <- pendingEvent{ev: &cp, deadline: time.Now().Add(metadataWait)}:
		l.deferred.Add(1)
		return true
	default:
		l.overflow.Add(1)
		return false
	}
}

// run evaluates queued events as their metadata arrives until ctx ends,
// then evaluates what is left with what is known.
func (l *lateEval) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case p := <-l.queue:
					l.unresolved.Add(1)
					l.passed.Add(1)
					l.eval(p.ev)
				default:
					return
				}
			}
		case p := <-l.queue:
			lctx, cancel := context.WithDeadline(ctx, p.deadline)
			_, err := l.lookup(lctx, p.ev.Container.ID)
			cancel()
			if err != nil {
				l.unresolved.Add(1)
			}
			l.enrich(p.ev)
			l.passed.Add(1)
			l.eval(p.ev)
		}
	}
}
