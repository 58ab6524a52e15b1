package falcoplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins/source"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/event"
)

// QueueSize bounds the events waiting between the sources and Falco's
// next_batch calls.
const QueueSize = 16384

// replayBatch is how many replayed events travel the queue together: one
// channel operation, and one wake-up of a parked sender, per batch rather
// than per event (measured in the real Falco, test/falcoreplay, the per-event
// hand-off between the source goroutine and Falco's thread cost more than
// the decoding).
const replayBatch = 256

// replayQueue is how many batches a replay may hold ahead of Falco: enough
// to keep Falco's thread fed, few enough that the Go heap stays small (every
// queued event is scanned by each garbage collection).
const replayQueue = 8

// batchWait is how long NextBatch waits for a first event before returning
// a timeout, so Falco's loop stays responsive (shutdown, other sources).
const batchWait = 50 * time.Millisecond

type sourceRunner struct {
	src sources.Source
	// done, if set, is asked after the source ended without an error; its
	// error fails the capture like the source's own (a replay that
	// skipped bad lines).
	done func() error
}

// Instance is one open capture: sources running in goroutines that feed a
// bounded queue, drained by NextBatch.
type Instance struct {
	source.BaseInstance

	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ch     chan []*event.Event // live: one event each; replay: up to replayBatch
	cur    []*event.Event      // received, not yet handed to Falco

	mu   sync.Mutex
	errs []error

	dropped   atomic.Uint64 // live events lost to a full queue
	oversized atomic.Uint64 // events larger than Falco's event buffer
	sent      atomic.Uint64
	enc       encoder
	recent    *recent // nil: extraction always decodes
}

// live instances: events from a full queue are dropped and counted, since
// blocking would stall the kernel side (audit backlog); replay blocks.
func startInstance(runners []sourceRunner, live bool, logger *slog.Logger) *Instance {
	if logger == nil {
		logger = discard()
	}
	ctx, cancel := context.WithCancel(context.Background())
	size := QueueSize
	if !live {
		size = replayQueue
	}
	in := &Instance{log: logger, cancel: cancel, ch: make(chan []*event.Event, size)}
	liveInstances.Add(1)
	var emit func(*event.Event)
	if live {
		emit = func(ev *event.Event) {
			select {
			case in.ch <- []*event.Event{ev}:
			default:
				if in.dropped.Add(1)&(1<<12-1) == 1 {
					in.log.Warn("event queue full, dropping events", "dropped", in.dropped.Load())
				}
			}
		}
	}
	for _, r := range runners {
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			emit := emit
			if !live {
				// Replay blocks rather than drops; each runner batches
				// its own events.
				var pending []*event.Event
				send := func() {
					if len(pending) == 0 {
						return
					}
					select {
					case in.ch <- pending:
					case <-ctx.Done():
					}
					pending = nil
				}
				defer send()
				emit = func(ev *event.Event) {
					if pending == nil {
						pending = make([]*event.Event, 0, replayBatch)
					}
					pending = append(pending, ev)
					if len(pending) == replayBatch {
						send()
					}
				}
			}
			defer func() {
				if p := recover(); p != nil {
					in.fail(fmt.Errorf("source %s: recovered panic: %v", r.src.Name(), p))
				}
			}()
			err := r.src.Run(ctx, emit)
			if err == nil && r.done != nil && ctx.Err() == nil {
				err = r.done()
			}
			if err != nil && ctx.Err() == nil {
				in.fail(fmt.Errorf("source %s: %w", r.src.Name(), err))
			}
		}()
	}
	go func() {
		in.wg.Wait()
		close(in.ch)
	}()
	return in
}

func (in *Instance) fail(err error) {
	in.log.Error("source failed", "err", err)
	in.mu.Lock()
	in.errs = append(in.errs, err)
	in.mu.Unlock()
}

func (in *Instance) err() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return errors.Join(in.errs...)
}

// liveInstances counts instances not yet closed, so tests can see that
// open/close cycles leak nothing.
var liveInstances atomic.Int64

// LiveInstances returns the number of open, not yet closed instances.
func LiveInstances() int64 { return liveInstances.Load() }

// NextBatch implements sdk.NextBatcher.
func (in *Instance) NextBatch(_ sdk.PluginState, evts sdk.EventWriters) (n int, err error) {
	defer recoverErr(in.log, "next_batch", &err)
	if len(in.cur) == 0 {
		var ok bool
		select {
		case in.cur, ok = <-in.ch:
		default:
			t := time.NewTimer(batchWait)
			select {
			case in.cur, ok = <-in.ch:
			case <-t.C:
				return 0, sdk.ErrTimeout
			}
			t.Stop()
		}
		if !ok {
			if err := in.err(); err != nil {
				return 0, err
			}
			return 0, sdk.ErrEOF
		}
	}
	for n < evts.Len() {
		if len(in.cur) == 0 {
			var ok bool
			select {
			case in.cur, ok = <-in.ch:
			default:
			}
			if !ok {
				break // nothing queued now, or the end: the next call tells
			}
		}
		ev := in.cur[0]
		in.cur[0] = nil
		in.cur = in.cur[1:]
		if in.write(evts.Get(n), ev) {
			n++
		}
	}
	if n == 0 {
		// Every event so far was oversized.
		return 0, sdk.ErrTimeout
	}
	return n, nil
}

func (in *Instance) write(w sdk.EventWriter, ev *event.Event) bool {
	key := nextKey()
	b := in.enc.encode(ev, key)
	_, err := w.Writer().Write(b)
	if err != nil {
		// Only an event beyond Falco's per-event buffer (256 KiB: a huge
		// argv) fails here; count it rather than fail the capture.
		if in.oversized.Add(1) == 1 {
			in.log.Warn("event not delivered", "err", err, "bytes", len(b))
		}
		return false
	}
	ts := ev.Evt.Time.UnixNano()
	if ev.Evt.Time.IsZero() || ts <= 0 {
		ts = time.Now().UnixNano()
	}
	w.SetTimestamp(uint64(ts))
	if in.recent != nil {
		in.recent.put(key, ev)
	}
	in.sent.Add(1)
	return true
}

// Close implements sdk.Closer: stop the sources and wait for them.
func (in *Instance) Close() {
	defer recoverLog(in.log, "close")
	in.cancel()
	// Sources blocked on a full queue watch ctx; drain so none waits.
	go func() {
		for range in.ch {
		}
	}()
	in.wg.Wait()
	liveInstances.Add(-1)
	in.log.Debug("instance closed", "sent", in.sent.Load(), "dropped", in.dropped.Load(), "oversized", in.oversized.Load())
}
