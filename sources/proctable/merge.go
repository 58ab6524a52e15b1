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
	Held      uint64 // proc connector execve events held for a partner
	Merged    uint64 // exec pairs emitted as one event
	Alone     uint64 // held execve events emitted alone after the window
	LateAudit uint64 // audit execve events dropped: their proc connector twin had already gone out
	Forced    uint64 // held events flushed early because the queue was full
}

// Merger turns the proc connector's and audit's reports of the same exec
// into one execve event. The proc connector's exec arrives first and cheap;
// audit's (argv, cwd, ids, keys, success) follows within milliseconds. The
// Merger holds each proc connector execve for a window, keyed by pid; an
// audit execve of that pid within the window is merged into it (audit's
// fields, the earlier kernel time) and emitted once; otherwise the held
// event goes out alone when the window ends. Events of a pid that has an
// exec held (its exit, its connects) wait behind it, so per-process order
// is kept.
//
// emit is never called concurrently: calls come from Push and from Run's
// goroutine under one lock.
type Merger struct {
	window time.Duration
	max    int
	emit   func(*event.Event)
	now    func() time.Time

	mu      sync.Mutex
	pending map[int]*held
	order   []*held // FIFO by deadline
	recent  map[int]recentExec
	rorder  []recentExec
	stats   MergeStats
}

type held struct {
	ev        *event.Event
	deadline  time.Time
	followers []*event.Event
	done      bool
}

type recentExec struct {
	pid    int
	source string // whose exec went out
	until  time.Time
}

// NewMerger returns a Merger that holds proc connector execve events for
// window (0: DefaultMergeWindow), at most max at a time (0:
// DefaultMergePending), and passes every event on to emit.
func NewMerger(window time.Duration, max int, emit func(*event.Event)) *Merger {
	if window <= 0 {
		window = DefaultMergeWindow
	}
	if max <= 0 {
		max = DefaultMergePending
	}
	return &Merger{
		window:  window,
		max:     max,
		emit:    emit,
		now:     time.Now,
		pending: make(map[int]*held),
		recent:  make(map[int]recentExec),
	}
}

// Stats returns the counters.
func (m *Merger) Stats() MergeStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Push takes one event from any source.
func (m *Merger) Push(ev *event.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expire(now)
	pid := ev.Proc.PID
	isExec := ev.Evt.Type == event.TypeExecve
	switch {
	case isExec && ev.Evt.Source == event.SourceProcconn:
		if r, ok := m.recent[pid]; ok && r.source == event.SourceAudit && now.Before(r.until) {
			// Audit's report of this exec came first and went out.
			delete(m.recent, pid)
			m.stats.Merged++
			return
		}
		if h := m.pending[pid]; h != nil {
			m.release(h) // a second exec of the same pid
		}
		if len(m.pending) >= m.max && len(m.order) > 0 {
			m.stats.Forced++
			m.release(m.order[0])
			m.compact()
		}
		h := &held{ev: ev, deadline: now.Add(m.window)}
		m.pending[pid] = h
		m.order = append(m.order, h)
		m.stats.Held++
	case isExec && ev.Evt.Source == event.SourceAudit && ev.Evt.Success:
		if h := m.pending[pid]; h != nil {
			merged := mergeExec(h.ev, ev)
			h.ev = merged
			m.stats.Merged++
			m.release(h)
			return
		}
		if r, ok := m.recent[pid]; ok && r.source == event.SourceProcconn && now.Before(r.until) {
			delete(m.recent, pid)
			m.stats.LateAudit++
			return
		}
		m.remember(pid, event.SourceAudit, now)
		m.emit(ev)
	default:
		if h := m.pending[pid]; h != nil && pid > 0 {
			h.followers = append(h.followers, ev)
			if len(h.followers) >= maxFollowers {
				m.release(h)
			}
			return
		}
		m.emit(ev)
	}
}

// mergeExec returns audit's event with the proc connector's earlier time
// and anything audit left empty.
func mergeExec(pc, au *event.Event) *event.Event {
	out := *au
	if !pc.Evt.Time.IsZero() && (out.Evt.Time.IsZero() || pc.Evt.Time.Before(out.Evt.Time)) {
		out.Evt.Time = pc.Evt.Time
	}
	if out.Proc.PPID == 0 {
		out.Proc.PPID = pc.Proc.PPID
	}
	if out.Proc.TID == 0 {
		out.Proc.TID = pc.Proc.TID
	}
	return &out
}

// release emits a held event and its followers; m.mu held.
func (m *Merger) release(h *held) {
	if h.done {
		return
	}
	h.done = true
	pid := h.ev.Proc.PID
	if m.pending[pid] == h {
		delete(m.pending, pid)
	}
	if h.ev.Evt.Source == event.SourceProcconn {
		m.stats.Alone++
		m.remember(pid, event.SourceProcconn, m.now())
	}
	m.emit(h.ev)
	for _, f := range h.followers {
		m.emit(f)
	}
	h.followers = nil
}

// remember notes that pid's exec went out, so its twin from the other
// source is recognised for one more window; m.mu held.
func (m *Merger) remember(pid int, source string, now time.Time) {
	r := recentExec{pid: pid, source: source, until: now.Add(m.window)}
	m.recent[pid] = r
	m.rorder = append(m.rorder, r)
	for len(m.rorder) > 2*m.max {
		m.dropRecent(m.rorder[0])
		m.rorder = m.rorder[1:]
	}
}

func (m *Merger) dropRecent(r recentExec) {
	if cur, ok := m.recent[r.pid]; ok && cur == r {
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
			m.mu.Unlock()
		}
	}
}

// Flush releases every held event now.
func (m *Merger) Flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range m.order {
		m.release(h)
	}
	m.order = m.order[:0]
}
