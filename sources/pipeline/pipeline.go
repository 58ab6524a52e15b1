package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/event"
)

// DefaultQueue bounds the events waiting between the sources and the
// processing function.
const DefaultQueue = 16384

// Pipeline fans the events of several sources into one bounded queue.
//
// A full queue blocks the emitting source (back-pressure) rather than
// dropping here: the kernel side of every live source counts what it cannot
// deliver (audit "lost", proc connector ENOBUFS), so loss stays visible in
// one place per source instead of being hidden in an internal queue.
type Pipeline struct {
	sources []sources.Source
	queue   int
	log     *slog.Logger

	received atomic.Uint64
	handled  atomic.Uint64
}

// New returns a pipeline over srcs; queue <= 0 means DefaultQueue.
func New(srcs []sources.Source, queue int, logger *slog.Logger) *Pipeline {
	if queue <= 0 {
		queue = DefaultQueue
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{sources: srcs, queue: queue, log: logger}
}

// Stats are the pipeline's counters.
type Stats struct {
	Received uint64 // events emitted by the sources
	Handled  uint64 // events passed to the processing function
}

// Stats returns the current counters.
func (p *Pipeline) Stats() Stats {
	return Stats{Received: p.received.Load(), Handled: p.handled.Load()}
}

// SourceError is a source that ended with an error.
type SourceError struct {
	Source string
	Err    error
}

func (e *SourceError) Error() string { return fmt.Sprintf("source %s: %v", e.Source, e.Err) }
func (e *SourceError) Unwrap() error { return e.Err }

// Run starts every source and calls handle for each event from a single
// goroutine, so handle needs no locking of its own. It returns when ctx ends
// or every source has finished (a replay at end of file) and the queue is
// drained. A source that fails is logged and reported in the returned error
// (joined SourceErrors); the others keep running.
func (p *Pipeline) Run(ctx context.Context, handle func(*event.Event)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ch := make(chan *event.Event, p.queue)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range p.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Run(ctx, func(ev *event.Event) {
				p.received.Add(1)
				select {
				case ch <- ev:
				case <-ctx.Done():
				}
			})
			if err != nil && ctx.Err() == nil {
				p.log.Error("source failed", "source", s.Name(), "err", err)
				mu.Lock()
				errs = append(errs, &SourceError{Source: s.Name(), Err: err})
				mu.Unlock()
			}
		}()
	}
	go func() {
		wg.Wait()
		close(ch)
	}()

	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return joined(&mu, errs)
			}
			p.handled.Add(1)
			handle(ev)
		case <-ctx.Done():
			// Sources stop on cancellation; wait for them so no goroutine
			// outlives Run, discarding what is still queued.
			cancel()
			for range ch {
			}
			return joined(&mu, errs)
		}
	}
}

func joined(mu *sync.Mutex, errs []error) error {
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(errs...)
}
