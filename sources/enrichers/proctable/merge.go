package proctable

import (
	"context"
	"sync"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// Merger defaults.
const (
	DefaultMergeWindow  = 100 * time.Millisecond
	DefaultMergePending = 8192
	maxFollowers        = 64
)

// MergeStats are the Merger's counters.
type MergeStats struct {
	Held   uint64 // proc connector execve events held for a partner
	Merged uint64 // exec pairs emitted as one event
	Alone  uint64 // held execve events emitted alone after the window
	// AloneUnnamed counts the Alone events that went out with no name
	// (the process was gone before /proc was read and audit's record had
	// not come): rules on proc.name cannot match them. Each is an exec
	// whose audit record was lost or came after the window (LateEmitted).
	AloneUnnamed uint64
	LateAudit    uint64 // audit execve events dropped: their proc connector twin had already gone out with a name
	// LateEmitted counts audit execve events that came after their proc
	// connector twin went out with no name: they are emitted too, so the
	// exec is evaluated with what audit knows.
	LateEmitted uint64
	Forced      uint64 // held events flushed early because the queue was full
}

// Merger turns the proc connector's and audit's reports of the same exec
// into one execve event. The proc connector's exec arrives first and cheap;
// audit's (argv, cwd, ids, keys, success) follows within milliseconds. The
// Merger holds each proc connector execve for a window; the audit execve
// events of a pid are paired with its held ones in order (the k-th audit
// exec with the k-th held one, since both sources report one pid's execs in
// the order they happened: busybox's sh -c execs its last command in
// place, and a process may exec twice before audit's first report comes)
// and each pair is emitted once, with audit's fields and the earlier
// kernel time. A held event without a partner goes out alone when its
// window ends. Events of a pid with an exec held (its exit, its connects)
// wait behind it, so per-process order is kept.
//
// Released events are handed to emit after Merger.mu is unlocked, so what
// emit does (the next stage) never holds up Push or Run. They go out in the
// order they were released, which keeps each process's order (an exec before
// that process's later events): released events are queued under the lock,
// and one caller at a time (Push's, Run's, Flush's) empties the queue into
// emit; a caller that finds another emptying it leaves its events to that
// one, unless max events already wait: then it waits for room. emit is
// therefore never called concurrently, and what waits for it is bounded.
type Merger struct {
	window time.Duration
	max    int
	emit   func(*event.Event)
	now    func() time.Time

	mu       sync.Mutex
	out      []*event.Event  // released, not yet handed to emit
	spare    []*event.Event  // out's other buffer
	emitting bool            // a caller is handing out to emit
	idle     sync.Cond       // signalled when out is taken or emitting ends (on mu)
	pending  map[int][]*held // per pid, oldest first
	held     int             // entries in pending
	order    []*held         // FIFO by deadline
	recent   map[int]*recentExec
	rorder   []*recentExec
	stats    MergeStats
}

type held struct {
	ev        *event.Event
	deadline  time.Time
	followers []*event.Event
	done      bool
}

// recentExec counts a pid's execs that went out from one source without
// their twin, so the twin is recognised (and dropped) when it comes.
type recentExec struct {
	pid    int
	source string // whose execs went out
	n      int
	// unnamed of the n went out with no name (proc connector copies
	// whose process was gone): their audit twins still go out when they
	// come.
	unnamed int
	until   time.Time
}

// NewMerger returns a Merger that holds proc connector execve events for
// window (0: DefaultMergeWindow), at most max at a time (0:
// DefaultMergePending; max also bounds the released events waiting for
// emit), and passes every event on to emit.
func NewMerger(window time.Duration, max int, emit func(*event.Event)) *Merger {
	if window <= 0 {
		window = DefaultMergeWindow
	}
	if max <= 0 {
		max = DefaultMergePending
	}
	m := &Merger{
		window:  window,
		max:     max,
		emit:    emit,
		now:     time.Now,
		pending: make(map[int][]*held),
		recent:  make(map[int]*recentExec),
	}
	m.idle.L = &m.mu
	return m
}

// Stats returns the counters.
func (m *Merger) Stats() MergeStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Push takes one event from any source. It returns once its events (and
// any released before them) are handed to emit, unless another caller is
// handing them out: then that caller does. The event is the merger's: a
// twin folded into the other report of its exec is released
// (event.Release), so the caller must not read it after Push.
func (m *Merger) Push(ev *event.Event) {
	m.mu.Lock()
	m.push(ev)
	m.handOut()
}

// push files ev; m.mu held.
func (m *Merger) push(ev *event.Event) {
	now := m.now()
	m.expire(now)
	pid := ev.Proc.PID
	isExec := ev.Evt.Type == event.TypeExecve
	switch {
	case isExec && ev.Evt.Source == event.SourceProcconn:
		if ok, _ := m.takeRecent(pid, event.SourceAudit, now); ok {
			// Audit's report of this exec came first and went out.
			m.stats.Merged++
			event.Release(ev)
			return
		}
		if m.held >= m.max && len(m.order) > 0 {
			m.stats.Forced++
			m.release(m.order[0])
			m.compact()
		}
		h := &held{ev: ev, deadline: now.Add(m.window)}
		m.pending[pid] = append(m.pending[pid], h)
		m.held++
		m.order = append(m.order, h)
		m.stats.Held++
	case isExec && ev.Evt.Source == event.SourceAudit && ev.Evt.Success:
		if q := m.pending[pid]; len(q) > 0 {
			h := q[0]
			pc := h.ev
			h.ev = mergeExec(pc, ev)
			event.Release(pc) // folded into audit's: nothing holds it
			m.stats.Merged++
			m.release(h)
			return
		}
		if ok, unnamed := m.takeRecent(pid, event.SourceProcconn, now); ok {
			if !unnamed {
				m.stats.LateAudit++
				event.Release(ev)
				return
			}
			// The twin told nothing rules could match on: audit's
			// report, late, is the only one that names the exec.
			m.stats.LateEmitted++
			m.out = append(m.out, ev)
			return
		}
		m.remember(pid, event.SourceAudit, now, false)
		m.out = append(m.out, ev)
	default:
		if q := m.pending[pid]; len(q) > 0 && pid > 0 {
			last := q[len(q)-1]
			last.followers = append(last.followers, ev)
			if len(last.followers) >= maxFollowers {
				m.release(last)
			}
			return
		}
		m.out = append(m.out, ev)
	}
}

// handOut passes the released events to emit outside the lock, in release
// order; m.mu held on entry, unlocked on return.
func (m *Merger) handOut() {
	for m.emitting {
		if len(m.out) < m.max {
			// That caller loops until out is empty, ours included.
			m.mu.Unlock()
			return
		}
		// Bound what waits for it: the caller (the event path) waits
		// until it takes the next batch, and so back-pressures the
		// sensors as emit itself would.
		m.idle.Wait()
	}
	m.emitting = true
	for len(m.out) > 0 {
		batch := m.out
		m.out, m.spare = m.spare[:0], nil
		m.idle.Broadcast() // room in out
		m.mu.Unlock()
		for i, ev := range batch {
			m.emit(ev)
			batch[i] = nil
		}
		m.mu.Lock()
		m.spare = batch[:0]
	}
	m.emitting = false
	m.idle.Broadcast()
	m.mu.Unlock()
}

// mergeExec returns audit's event, filled in place, with the proc
// connector's earlier time and anything audit left empty.
func mergeExec(pc, au *event.Event) *event.Event {
	out := au
	if !pc.Evt.Time.IsZero() && (out.Evt.Time.IsZero() || pc.Evt.Time.Before(out.Evt.Time)) {
		out.Evt.Time = pc.Evt.Time
	}
	if out.Proc.PPID == 0 {
		out.Proc.PPID = pc.Proc.PPID
	}
	if out.Proc.TID == 0 {
		out.Proc.TID = pc.Proc.TID
	}
	if out.Container.ID == "" {
		// The clue read when the proc connector's exec was received
		// (procconn.Config.ContainerOf), while the process still lived;
		// the table decided the process's id from it at Observe, and
		// the event carries it as Table.Enrich would copy it.
		out.Container.ID = pc.Container.ID
	}
	return out
}

// release queues a held event and its followers for emit, after the pid's
// older held events (order); m.mu held.
func (m *Merger) release(h *held) {
	if h.done {
		return
	}
	pid := h.ev.Proc.PID
	q := m.pending[pid]
	for len(q) > 0 {
		x := q[0]
		q = q[1:]
		m.held--
		x.done = true
		if x.ev.Evt.Source == event.SourceProcconn {
			m.stats.Alone++
			// Without a name (the process was gone before its comm
			// was read), rules on proc.name cannot match.
			unnamed := x.ev.Proc.Name == ""
			if unnamed {
				m.stats.AloneUnnamed++
			}
			m.remember(pid, event.SourceProcconn, m.now(), unnamed)
		}
		m.out = append(m.out, x.ev)
		m.out = append(m.out, x.followers...)
		// A released entry stays in order until the entries before it
		// are released (up to a window): it must not keep its events.
		x.ev, x.followers = nil, nil
		if x == h {
			break
		}
	}
	if len(q) == 0 {
		delete(m.pending, pid)
	} else {
		m.pending[pid] = q
	}
}

// remember notes that one of pid's execs went out from source without its
// twin, so the twin is recognised for one more window; m.mu held.
func (m *Merger) remember(pid int, source string, now time.Time, unnamed bool) {
	r := m.recent[pid]
	if r == nil || r.source != source || !now.Before(r.until) {
		r = &recentExec{pid: pid, source: source}
		m.recent[pid] = r
		m.rorder = append(m.rorder, r)
	}
	r.n++
	if unnamed {
		r.unnamed++
	}
	r.until = now.Add(m.window)
	for len(m.rorder) > 2*m.max {
		m.dropRecent(m.rorder[0])
		m.rorder = m.rorder[1:]
	}
}

// takeRecent consumes one of pid's execs that went out from source,
// reporting whether one did and whether it went out unnamed (those are
// taken first: a pid's older execs are the likelier to have lost their
// race with exit); m.mu held.
func (m *Merger) takeRecent(pid int, source string, now time.Time) (ok, unnamed bool) {
	r := m.recent[pid]
	if r == nil || r.source != source || r.n == 0 || !now.Before(r.until) {
		return false, false
	}
	r.n--
	if r.unnamed > 0 {
		r.unnamed--
		unnamed = true
	}
	if r.n == 0 {
		delete(m.recent, pid)
	}
	return true, unnamed
}

func (m *Merger) dropRecent(r *recentExec) {
	if m.recent[r.pid] == r {
		delete(m.recent, r.pid)
	}
}

// expire releases held events whose window ended; m.mu held.
func (m *Merger) expire(now time.Time) {
	i := 0
	for ; i < len(m.order); i++ {
		h := m.order[i]
		if h.done {
			continue
		}
		if now.Before(h.deadline) {
			break
		}
		m.release(h)
	}
	if i > 0 {
		m.order = append(m.order[:0], m.order[i:]...)
	}
	j := 0
	for ; j < len(m.rorder) && !now.Before(m.rorder[j].until); j++ {
		m.dropRecent(m.rorder[j])
	}
	if j > 0 {
		m.rorder = append(m.rorder[:0], m.rorder[j:]...)
	}
}

// compact drops released entries from the head of the FIFO; m.mu held.
func (m *Merger) compact() {
	i := 0
	for i < len(m.order) && m.order[i].done {
		i++
	}
	m.order = append(m.order[:0], m.order[i:]...)
}

// Run releases held events as their windows end, until ctx ends; then it
// releases everything still held and returns nil.
func (m *Merger) Run(ctx context.Context) error {
	tick := time.NewTicker(m.window / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			m.Flush()
			return nil
		case <-tick.C:
			m.mu.Lock()
			m.expire(m.now())
			m.handOut()
		}
	}
}

// Flush releases every held event now and returns once all are handed to
// emit (by this call or by one already handing out).
func (m *Merger) Flush() {
	m.mu.Lock()
	for _, h := range m.order {
		m.release(h)
	}
	m.order = m.order[:0]
	m.handOut()
	m.mu.Lock()
	for m.emitting {
		m.idle.Wait()
	}
	m.mu.Unlock()
}
