package outputs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// Defaults of StageOptions and Spec.
const (
	DefaultQueueSize    = 4096
	DefaultDrainTimeout = 5 * time.Second
	DefaultTimeout      = 10 * time.Second
	DefaultRetries      = 3
	DefaultRetryBackoff = 500 * time.Millisecond
	DefaultBatchWait    = time.Second
	// localPause is how long a stdout, json or file worker that just wrote
	// waits before taking again: under an alert storm (the load harness's
	// exec storm raises one per exec) each take was a wake-up of the worker
	// and a write(2) for one alert; pausing lets the alerts of the next
	// millisecond go out in one write (agent CPU per exec ~10 µs lower
	// under the harness's storm; 2 ms bought no more and added ~1 ms to
	// exec->alert p50). A lone alert after a quiet spell is written at
	// once; a full take does not pause.
	localPause      = 1 * time.Millisecond
	maxRetryBackoff = 30 * time.Second
	// failLogEvery rate-limits failure logs per output: a dead receiver
	// must not turn every alert into a log line.
	failLogEvery = 10 * time.Second
	// stuckGrace is how long Run waits, after cancelling at the drain
	// deadline, for workers to notice.
	stuckGrace = time.Second
)

// StageOptions configure a Stage. The zero value works: discard logs, the
// host's name, os.Stdout, the defaults above.
type StageOptions struct {
	Logger *slog.Logger
	// Hostname fills Alert.Hostname where the engine left it empty.
	Hostname string
	// Stdout receives the stdout and json outputs (os.Stdout when nil).
	Stdout io.Writer
	// DrainTimeout bounds how long Run spends delivering queued alerts after
	// its context ends.
	DrainTimeout time.Duration
	// QueueSize is the default per-output queue bound.
	QueueSize int
}

// OutputStats are one output's counters. Sent, Failed and Dropped count
// alerts; Retried counts delivery attempts repeated after a transient error.
// Dropped covers queue overflow (oldest first) and what was still queued or in
// flight when the drain time ran out.
type OutputStats struct {
	Name    string
	Sent    uint64
	Failed  uint64
	Retried uint64
	Dropped uint64
	Queued  int
}

// Stage fans alerts out to its outputs. Send may be called from any goroutine
// before, during and after Run; Run delivers until its context ends, drains,
// and closes the outputs. A Stage runs once.
type Stage struct {
	runners []*runner
	log     *slog.Logger
	host    string
	drain   time.Duration
	started atomic.Bool
}

// sink is one destination. write delivers batch in order and returns how many
// alerts it delivered; err == nil means all of them. Errors wrapped by
// permanent are not retried.
type sink interface {
	write(ctx context.Context, batch []event.Alert) (int, error)
	close() error
}

// reopener is a sink that holds a file logrotate may move away.
type reopener interface {
	reopen() error
}

type runner struct {
	name      string
	min       event.Priority
	q         *queue
	sink      sink
	maxTake   int
	batch     int
	batchWait time.Duration
	pause     time.Duration // after a write that did not empty a full take
	// wait pauses (a timer of pause unless a test sets it); false when ctx
	// ended.
	wait    func(ctx context.Context) bool
	retries int
	backoff time.Duration
	log     *slog.Logger

	sent, failed, retried, dropped atomic.Uint64

	done chan struct{} // closed when the worker returned
	// inflight is the size of the batch being delivered; abandoned is set
	// when Run gave up on a stuck worker and counted that batch as dropped,
	// so the worker must not count it again.
	inflight  atomic.Int64
	abandoned atomic.Bool

	lastFailLog time.Time // worker goroutine only
	failsQuiet  int
}

// NewStage builds the outputs of specs. Files are opened now (a bad path is a
// start-up error); network outputs connect on first use, so a receiver that
// is down at start costs retries, not the start.
func NewStage(specs []Spec, opts StageOptions) (*Stage, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host := opts.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	stdout := opts.Stdout
	if stdout == nil {
		stdout = os.Stdout
	}
	// stdout and json may share the writer: one lock keeps lines whole.
	shared := &lockedWriter{w: stdout}
	qsize := opts.QueueSize
	if qsize <= 0 {
		qsize = DefaultQueueSize
	}
	s := &Stage{log: log, host: host, drain: opts.DrainTimeout}
	if s.drain <= 0 {
		s.drain = DefaultDrainTimeout
	}
	for _, sp := range specs {
		if sp.Kind == "" {
			p, err := ParseSpec(sp.Raw)
			if err != nil {
				s.closeSinks()
				return nil, err
			}
			p.Name = sp.Name
			sp = p
		}
		r, err := newRunner(sp, qsize, host, shared, log)
		if err != nil {
			s.closeSinks()
			return nil, fmt.Errorf("output %s: %w", sp.String(), err)
		}
		s.runners = append(s.runners, r)
	}
	return s, nil
}

func newRunner(sp Spec, qsize int, host string, stdout io.Writer, log *slog.Logger) (*runner, error) {
	if err := sp.validate(); err != nil {
		return nil, err
	}
	r := &runner{
		name:    sp.String(),
		min:     event.PriorityDebug,
		maxTake: 64,
		batch:   1,
		backoff: sp.RetryBackoff,
		log:     log.With("output", sp.String()),
	}
	if sp.MinPriority != "" {
		r.min, _ = event.ParsePriority(sp.MinPriority) // validated
	}
	if sp.QueueSize > 0 {
		qsize = sp.QueueSize
	}
	r.q = newQueue(qsize)
	if r.backoff == 0 {
		r.backoff = DefaultRetryBackoff
	}
	timeout := sp.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	r.retries = DefaultRetries
	var err error
	switch sp.Kind {
	case KindStdout, KindJSON:
		r.retries, r.pause = 0, localPause
		r.sink = &lineSink{w: stdout, json: sp.Kind == KindJSON}
	case KindFile:
		r.retries, r.pause = 0, localPause
		r.sink, err = openFileSink(sp.Path)
	case KindSyslog:
		r.maxTake = 16
		r.sink, err = newSyslogSink(sp, host, timeout)
	case KindWebhook, KindFalco:
		r.maxTake = 1
		if sp.BatchSize > 1 {
			r.batch = sp.BatchSize
			r.maxTake = sp.BatchSize
			r.batchWait = sp.BatchWait
			if r.batchWait == 0 {
				r.batchWait = DefaultBatchWait
			}
		}
		r.sink, err = newHTTPSink(sp, timeout)
	default:
		err = fmt.Errorf("unknown output kind %q", sp.Kind)
	}
	if err != nil {
		return nil, err
	}
	if sp.Retries != nil {
		r.retries = *sp.Retries
	}
	return r, nil
}

// Send queues a for every output whose minimum priority it meets. It never
// blocks: a full queue drops its oldest alert. Empty Hostname and Source are
// filled in.
func (s *Stage) Send(a event.Alert) {
	if a.Hostname == "" {
		a.Hostname = s.host
	}
	if a.Source == "" {
		a.Source = event.AlertSource
	}
	for _, r := range s.runners {
		if a.Priority > r.min {
			continue
		}
		r.q.push(&a)
	}
}

// Run delivers alerts until ctx ends, then stops accepting (later Sends are
// dropped and counted), delivers what is queued for at most the drain
// timeout, counts the rest as dropped, and closes the outputs. Cancel ctx
// only after the engine has stopped sending, or its last alerts are dropped.
// Run returns nil; it returns an error only when called twice.
func (s *Stage) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("outputs: stage already ran")
	}
	// Workers outlive ctx by the drain time, so they get their own context.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	for _, r := range s.runners {
		r.done = make(chan struct{})
		go func() {
			defer close(r.done)
			r.run(wctx)
		}()
	}
	<-ctx.Done()
	for _, r := range s.runners {
		r.q.close()
	}
	timer := time.NewTimer(s.drain)
	defer timer.Stop()
	drained := s.wait(timer.C)
	if !drained {
		s.log.Warn("output drain timed out", "drain_timeout", s.drain)
		cancel()
		// Cancelling ends every network attempt; a write to a blocked
		// stdout pipe or a hung file system cannot be interrupted, so such a
		// worker is abandoned rather than holding up shutdown.
		grace := time.NewTimer(stuckGrace)
		defer grace.Stop()
		s.wait(grace.C)
	}
	for _, r := range s.runners {
		if n := r.q.discard(); n > 0 {
			r.log.Warn("alerts left undelivered at shutdown", "dropped", n)
		}
		select {
		case <-r.done:
			if err := r.sink.close(); err != nil {
				r.log.Warn("close output", "err", err)
			}
		default:
			r.abandoned.Store(true)
			n := r.inflight.Load()
			r.dropped.Add(uint64(n))
			r.log.Warn("output worker stuck in a write at shutdown, abandoned", "dropped", n)
		}
	}
	for _, st := range s.Stats() {
		if st.Dropped > 0 || st.Failed > 0 {
			s.log.Warn("output totals", "output", st.Name, "sent", st.Sent, "failed", st.Failed,
				"retried", st.Retried, "dropped", st.Dropped)
		}
	}
	return nil
}

// wait reports whether every worker ended before timeout fired.
func (s *Stage) wait(timeout <-chan time.Time) bool {
	for _, r := range s.runners {
		select {
		case <-r.done:
		case <-timeout:
			return false
		}
	}
	return true
}

func (s *Stage) closeSinks() {
	for _, r := range s.runners {
		if err := r.sink.close(); err != nil {
			r.log.Warn("close output", "err", err)
		}
	}
}

// Reopen reopens file outputs (call it on SIGHUP after logrotate moved the
// files). It is safe while Run delivers.
func (s *Stage) Reopen() error {
	var errs []error
	for _, r := range s.runners {
		if ro, ok := r.sink.(reopener); ok {
			if err := ro.reopen(); err != nil {
				errs = append(errs, fmt.Errorf("output %s: %w", r.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Stats returns each output's counters, in spec order.
func (s *Stage) Stats() []OutputStats {
	out := make([]OutputStats, 0, len(s.runners))
	for _, r := range s.runners {
		out = append(out, OutputStats{
			Name:    r.name,
			Sent:    r.sent.Load(),
			Failed:  r.failed.Load(),
			Retried: r.retried.Load(),
			Dropped: r.dropped.Load() + r.q.droppedCount(),
			Queued:  r.q.len(),
		})
	}
	return out
}

func (r *runner) run(ctx context.Context) {
	buf := make([]event.Alert, 0, r.maxTake)
	wait := r.wait
	if wait == nil && r.pause > 0 {
		t := time.NewTimer(r.pause)
		t.Stop()
		defer t.Stop()
		wait = func(ctx context.Context) bool {
			t.Reset(r.pause)
			select {
			case <-t.C:
				return true
			case <-ctx.Done():
				return false
			}
		}
	}
	for {
		select {
		case <-r.q.ready:
		case <-ctx.Done():
			return
		}
		batch, closed := r.q.take(buf[:0], r.maxTake)
		if r.batch > 1 && len(batch) < r.batch && !closed {
			batch, closed = r.fill(ctx, batch)
		}
		n := len(batch)
		if n > 0 {
			r.deliver(ctx, batch)
			clear(batch) // let the alerts' maps go
		}
		if closed && r.q.len() == 0 {
			return
		}
		if wait != nil && n > 0 && n < r.maxTake && !closed && !wait(ctx) {
			return
		}
	}
}

// fill waits up to batchWait for a partial batch to fill.
func (r *runner) fill(ctx context.Context, batch []event.Alert) ([]event.Alert, bool) {
	t := time.NewTimer(r.batchWait)
	defer t.Stop()
	closed := false
	for len(batch) < r.batch && !closed {
		select {
		case <-r.q.ready:
			batch, closed = r.q.take(batch, r.batch)
		case <-t.C:
			return batch, false
		case <-ctx.Done():
			return batch, false
		}
	}
	return batch, closed
}

func (r *runner) deliver(ctx context.Context, batch []event.Alert) {
	r.inflight.Store(int64(len(batch)))
	defer r.inflight.Store(0)
	for attempt := 0; ; attempt++ {
		n, err := r.sink.write(ctx, batch)
		if r.abandoned.Load() {
			return
		}
		if err == nil {
			n = len(batch)
		}
		r.inflight.Add(-int64(n))
		r.sent.Add(uint64(n))
		batch = batch[n:]
		if err == nil || len(batch) == 0 {
			return
		}
		if ctx.Err() != nil {
			r.dropped.Add(uint64(len(batch)))
			return
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= r.retries {
			r.failed.Add(uint64(len(batch)))
			r.logFailure(err, len(batch))
			return
		}
		r.retried.Add(1)
		wait := r.backoffFor(attempt)
		var ra *retryAfterError
		if errors.As(err, &ra) && ra.after > wait {
			wait = min(ra.after, maxRetryBackoff)
		}
		if !sleep(ctx, wait) {
			r.dropped.Add(uint64(len(batch)))
			return
		}
	}
}

// backoffFor doubles per attempt up to maxRetryBackoff with jitter in
// [d/2, d), so many agents behind one dead receiver do not retry in step.
func (r *runner) backoffFor(attempt int) time.Duration {
	d := r.backoff << min(attempt, 16)
	if d <= 0 || d > maxRetryBackoff {
		d = maxRetryBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func (r *runner) logFailure(err error, n int) {
	now := time.Now()
	if now.Sub(r.lastFailLog) < failLogEvery {
		r.failsQuiet++
		return
	}
	r.log.Warn("output delivery failed", "err", err, "alerts", n, "failures_not_logged", r.failsQuiet)
	r.lastFailLog = now
	r.failsQuiet = 0
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// permanentError marks a failure a retry cannot fix (HTTP 4xx but 429).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
