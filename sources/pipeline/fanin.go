package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

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

// fanIn runs every source and calls handle for each event from the calling
// goroutine, so handle needs no locking of its own. It returns when ctx ends
// or every source has finished (a replay at end of file) and the queue is
// drained. A source that fails is logged and reported in the returned error
// (joined SourceErrors); the others keep running.
//
// A full queue blocks the emitting source (back-pressure) rather than
// dropping here: the kernel side of every live source counts what it cannot
// deliver (audit "lost", proc connector ENOBUFS), so loss stays visible in
// one place per source instead of being hidden in an internal queue. What is
// still queued when ctx ends is discarded and counted as dropped.
func fanIn(ctx context.Context, srcs []sources.Source, queue int, log *slog.Logger, c *stageCounters, handle func(*event.Event)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ch := make(chan *event.Event, queue)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range srcs {
		wg.Go(func() {
			err := s.Run(ctx, func(ev *event.Event) {
				c.received.Add(1)
				select {
				case ch <- ev:
				case <-ctx.Done():
					c.dropped.Add(1)
				}
			})
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
		close(ch)
	}()

	joined := func() error {
		mu.Lock()
		defer mu.Unlock()
		return errors.Join(errs...)
	}
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return joined()
			}
			c.passed.Add(1)
			handle(ev)
		case <-ctx.Done():
			// Sources stop on cancellation; wait for them so no goroutine
			// outlives fanIn, discarding what is still queued.
			cancel()
			for range ch {
				c.dropped.Add(1)
			}
			return joined()
		}
	}
}
