package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/event"
)

// DefaultQueue bounds the events waiting between the sensors and the path.
const DefaultQueue = 16384

// SourceError is a source that ended with an error.
type SourceError struct {
	Source string
	Err    error
}

func (e *SourceError) Error() string { return fmt.Sprintf("source %s: %v", e.Source, e.Err) }
func (e *SourceError) Unwrap() error { return e.Err }

// item is what the intake queue carries: an event, or the proc
// connector's answer to a barrier request (see order.go), which must come
// behind the events that sensor emitted before it.
type item struct {
	ev      *event.Event
	drained uint64 // with ev nil: the barrier generation answered
}

// intake is the queue between the sensors and the path.
type intake struct {
	ch   chan item
	done <-chan struct{}
	c    *stageCounters
}

func newIntake(queue int, c *stageCounters) *intake {
	return &intake{ch: make(chan item, queue), c: c}
}

func (in *intake) emit(ev *event.Event) {
	in.c.received.Add(1)
	select {
	case in.ch <- item{ev: ev}:
	case <-in.done:
		in.c.dropped.Add(1)
	}
}

// mark queues a barrier answer behind what the calling sensor emitted.
func (in *intake) mark(gen uint64) {
	select {
	case in.ch <- item{drained: gen}:
	case <-in.done:
	}
}

// handlers are what the path's first stage does with the intake.
type handlers struct {
	event func(*event.Event)
	// With a barrier (live, both sensors): drained takes its answers;
	// timer returns a channel that fires when a waiting event's time is
	// up (nil: nothing waits) and expire handles it.
	drained func(gen uint64)
	timer   func() <-chan time.Time
	expire  func()
}

// fanIn runs every source and calls handle for each event from the calling
// goroutine, so handle needs no locking of its own. It returns when ctx ends
// or every source has finished (a replay at end of file) and the queue is
// drained. A source that fails is logged and reported in the returned error
// (joined SourceErrors); the others keep running.
func fanIn(ctx context.Context, srcs []sources.Source, queue int, log *slog.Logger, c *stageCounters, handle func(*event.Event)) error {
	return runIntake(ctx, srcs, newIntake(queue, c), log, handlers{event: handle})
}

// runIntake is fanIn over a given intake queue and handlers.
//
// A full queue blocks the emitting source (back-pressure) rather than
// dropping here: the kernel side of every live source counts what it cannot
// deliver (audit "lost", proc connector ENOBUFS), so loss stays visible in
// one place per source instead of being hidden in an internal queue. What is
// still queued when ctx ends is discarded and counted as dropped.
func runIntake(ctx context.Context, srcs []sources.Source, in *intake, log *slog.Logger, h handlers) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in.done = ctx.Done()
	c := in.c

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range srcs {
		wg.Go(func() {
			err := s.Run(ctx, in.emit)
			if err != nil && ctx.Err() == nil {
				log.Error("source failed", "source", s.Name(), "err", err)
				mu.Lock()
				errs = append(errs, &SourceError{Source: s.Name(), Err: err})
				mu.Unlock()
			}
		})
	}
	go func() {
		wg.Wait()
		close(in.ch)
	}()

	joined := func() error {
		mu.Lock()
		defer mu.Unlock()
		return errors.Join(errs...)
	}
	for {
		var timer <-chan time.Time
		if h.timer != nil {
			timer = h.timer()
		}
		select {
		case it, ok := <-in.ch:
			if !ok {
				return joined()
			}
			if it.ev == nil {
				if h.drained != nil {
					h.drained(it.drained)
				}
				continue
			}
			c.passed.Add(1)
			h.event(it.ev)
		case <-timer:
			h.expire()
		case <-ctx.Done():
			// Sources stop on cancellation; wait for them so no goroutine
			// outlives fanIn, discarding what is still queued.
			cancel()
			for it := range in.ch {
				if it.ev != nil {
					c.dropped.Add(1)
				}
			}
			return joined()
		}
	}
}
