// Package sources defines what every event source implements. The sources
// themselves live in sub-packages (audit, procconn, replay); the event type
// they all produce is in sources/event.
package sources

import (
	"context"

	"github.com/ruled/ruled/sources/event"
)

// Source produces events until its context ends or its input is exhausted.
// Run returns nil on cancellation and at the end of a finite input (replay).
// emit is called from the source's own goroutine(s); it may block briefly to
// apply back-pressure and must not retain ev after it returns unless it owns
// it (sources allocate a fresh Event per call).
type Source interface {
	Name() string
	Run(ctx context.Context, emit func(ev *event.Event)) error
}

// Enricher fills in what a source alone cannot know (ancestry, container,
// sockets). Enrich runs on the event path: it must not block on I/O that can
// stall (a container runtime API); such lookups fill caches off the path.
type Enricher interface {
	Enrich(ev *event.Event)
}
