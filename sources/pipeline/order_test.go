package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

func ev(source, typ string, pid int) *event.Event {
	e := &event.Event{}
	e.Evt.Source, e.Evt.Type, e.Evt.Success = source, typ, true
	e.Proc.PID, e.Proc.PPID = pid, 1
	return e
}

// gateRig drives an orderGate by hand: known pids, the barriers asked for,
// what was handed on, a clock.
type gateRig struct {
	g      *orderGate
	known  map[int]bool
	asked  []uint64
	refuse bool // Sync answers false (no reader)
	out    []string
	now    time.Time
}

func newGateRig() *gateRig {
	r := &gateRig{known: map[int]bool{1: true}, now: time.Unix(1000, 0)}
	r.g = newOrderGate(func(pid int) bool { return r.known[pid] },
		func(gen uint64) bool {
			if r.refuse {
				return false
			}
			r.asked = append(r.asked, gen)
			return true
		},
		func(e *event.Event) {
			if e.Evt.Type == event.TypeFork {
				r.known[e.Proc.PID] = true
			}
			r.out = append(r.out, fmt.Sprintf("%s:%s:%d", e.Evt.Source, e.Evt.Type, e.Proc.PID))
		})
	r.g.now = func() time.Time { return r.now }
	return r
}

func (r *gateRig) got() string { return strings.Join(r.out, " ") }

func TestOrderGate(t *testing.T) {
	const (
		A, P = event.SourceAudit, event.SourceProcconn
	)
	t.Run("audit of a known process goes on at once", func(t *testing.T) {
		r := newGateRig()
		r.g.event(ev(A, event.TypeOpen, 1))
		if r.got() != "audit:open:1" || len(r.asked) != 0 {
			t.Fatalf("out %q asked %v", r.got(), r.asked)
		}
	})
	t.Run("audit before the fork waits for the barrier, and keeps audit's order", func(t *testing.T) {
		r := newGateRig()
		r.g.event(ev(A, event.TypeOpen, 5))    // child 5 not met: waits, barrier 1
		r.g.event(ev(A, event.TypeOpen, 1))    // known, but behind it
		r.g.event(ev(A, event.TypeConnect, 5)) // 5 again: no second barrier
		r.g.event(ev(P, event.TypeExit, 9))    // the proc connector's events go on
		if r.got() != "procconn:exit:9" || len(r.asked) != 1 || r.asked[0] != 1 {
			t.Fatalf("before the answer: out %q asked %v", r.got(), r.asked)
		}
		r.g.event(ev(P, event.TypeFork, 5)) // drained from the socket
		r.g.drained(1)
		want := "procconn:exit:9 procconn:fork:5 audit:open:5 audit:open:1 audit:connect:5"
		if r.got() != want {
			t.Fatalf("out %q\nwant %q", r.got(), want)
		}
		if s := r.g.stats(); s.Held != 3 || s.Syncs != 1 || s.Fallback != 0 || s.Timeouts != 0 {
			t.Fatalf("stats %+v", s)
		}
		if c := r.g.c.stats("order"); c.Received != 5 || c.Passed != 5 {
			t.Fatalf("stage %+v", c)
		}
		if r.g.timerC() != nil {
			t.Fatal("timer armed with nothing waiting")
		}
	})
	t.Run("each barrier lets go only what it covers", func(t *testing.T) {
		r := newGateRig()
		r.g.event(ev(A, event.TypeOpen, 5)) // barrier 1
		r.g.event(ev(A, event.TypeOpen, 6)) // barrier 2
		r.g.event(ev(P, event.TypeFork, 5))
		r.g.drained(1)
		if r.got() != "procconn:fork:5 audit:open:5" {
			t.Fatalf("after barrier 1: %q", r.got())
		}
		r.g.event(ev(P, event.TypeFork, 6))
		r.g.drained(2)
		if r.got() != "procconn:fork:5 audit:open:5 procconn:fork:6 audit:open:6" {
			t.Fatalf("after barrier 2: %q", r.got())
		}
	})
	t.Run("no fork after the barrier: on, counted as fallback", func(t *testing.T) {
		r := newGateRig()
		r.g.event(ev(A, event.TypeOpen, 7))
		r.g.drained(1)
		if r.got() != "audit:open:7" || r.g.stats().Fallback != 1 {
			t.Fatalf("out %q stats %+v", r.got(), r.g.stats())
		}
	})
	t.Run("no answer in time: on, counted", func(t *testing.T) {
		r := newGateRig()
		r.g.event(ev(A, event.TypeOpen, 7))
		if r.g.timerC() == nil {
			t.Fatal("no timer for a waiting event")
		}
		r.now = r.now.Add(orderWait / 2)
		r.g.event(ev(A, event.TypeOpen, 8))
		r.now = r.now.Add(orderWait / 2)
		r.g.expire()
		if r.got() != "audit:open:7" {
			t.Fatalf("after the first wait: %q", r.got())
		}
		r.now = r.now.Add(orderWait)
		r.g.expire()
		if r.got() != "audit:open:7 audit:open:8" {
			t.Fatalf("after the second wait: %q", r.got())
		}
		if s := r.g.stats(); s.Timeouts != 2 || s.Fallback != 2 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("no reader: everything goes on at once", func(t *testing.T) {
		r := newGateRig()
		r.g.event(ev(A, event.TypeOpen, 7))
		r.refuse = true
		r.g.event(ev(A, event.TypeOpen, 8))
		if r.got() != "audit:open:7 audit:open:8" || r.g.len() != 0 {
			t.Fatalf("out %q, %d waiting", r.got(), r.g.len())
		}
	})
	t.Run("bounded", func(t *testing.T) {
		r := newGateRig()
		for pid := 10; pid < 10+orderMax+5; pid++ {
			r.g.event(ev(A, event.TypeOpen, pid))
		}
		if r.g.len() != orderMax || len(r.out) != 5 || r.g.stats().Overflow != 5 {
			t.Fatalf("%d waiting, %d out, stats %+v", r.g.len(), len(r.out), r.g.stats())
		}
		r.g.flush()
		if len(r.out) != orderMax+5 || r.out[0] != "audit:open:10" || r.out[len(r.out)-1] != fmt.Sprintf("audit:open:%d", 10+orderMax+4) {
			t.Fatalf("flush: %d out, first %q last %q", len(r.out), r.out[0], r.out[len(r.out)-1])
		}
	})
}

// heldForks is a proc connector whose socket keeps every fork until a
// barrier is asked: as the kernel does, the fork is queued (fork) before
// the child can do anything audit reports, but the reader delivers it
// only when drained.
type heldForks struct {
	mu      sync.Mutex
	queued  []*event.Event
	req     atomic.Uint64
	wake    chan struct{}
	drained func(gen uint64)
	ready   chan struct{} // the parent's exec is emitted
}

func (f *heldForks) Name() string { return event.SourceProcconn }

func (f *heldForks) fork(child int) {
	e := ev(event.SourceProcconn, event.TypeFork, child)
	f.mu.Lock()
	f.queued = append(f.queued, e)
	f.mu.Unlock()
}

func (f *heldForks) Sync(gen uint64) bool {
	for {
		old := f.req.Load()
		if old >= gen || f.req.CompareAndSwap(old, gen) {
			break
		}
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return true
}

func (f *heldForks) Run(ctx context.Context, emit func(*event.Event)) error {
	// The parent, named: a child the table meets by its fork is a copy.
	parent := ev(event.SourceProcconn, event.TypeExecve, 1)
	parent.Proc.PPID, parent.Proc.Name = 0, "parent"
	emit(parent)
	close(f.ready)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		}
		gen := f.req.Load()
		f.mu.Lock()
		q := f.queued
		f.queued = nil
		f.mu.Unlock()
		for _, e := range q {
			emit(e)
		}
		f.drained(gen)
	}
}

// forkThenAudit is audit reporting an open by each child right after its
// fork was queued on the proc connector's socket.
type forkThenAudit struct {
	conn *heldForks
	n    int
}

func (a *forkThenAudit) Name() string { return event.SourceAudit }

func (a *forkThenAudit) Run(ctx context.Context, emit func(*event.Event)) error {
	<-a.conn.ready
	for pid := 100; pid < 100+a.n; pid++ {
		a.conn.fork(pid)
		e := ev(event.SourceAudit, event.TypeOpen, pid)
		e.File.Path = "/tmp/x"
		emit(e)
	}
	<-ctx.Done()
	return nil
}

// Audit's record of a child comes before the proc connector delivers the
// child's fork (its reader is behind); the table still meets the child by
// its fork first, so the record is enriched as the parent's child (the
// parent's name, which only the fork copies: /proc is empty here), and no
// /proc read stands in for the fork.
func TestLivePathForkBeforeAudit(t *testing.T) {
	const n = 300
	conn := &heldForks{wake: make(chan struct{}, 1), ready: make(chan struct{})}
	p := livePath(t, nil, true, conn, &forkThenAudit{conn: conn, n: n})
	conn.drained = p.markDrained
	p.gate = newOrderGate(p.table.Knows, conn.Sync, p.observe)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var opens, named int
	var bad []string
	err := p.Run(ctx, func(e *event.Event) {
		if e.Evt.Type != event.TypeOpen {
			return
		}
		opens++
		if e.Proc.Name == "parent" {
			named++
		} else if len(bad) < 5 {
			bad = append(bad, fmt.Sprintf("pid %d name %q", e.Proc.PID, e.Proc.Name))
		}
		if opens == n {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if opens != n || named != n {
		t.Fatalf("%d opens out, %d of them as the parent's child; want %d: %v", opens, named, n, bad)
	}
	s := p.Stats()
	o := s.Order
	// (An open whose fork a barrier asked for an earlier child already
	// brought goes on at once.)
	if o == nil || o.Held == 0 || o.Syncs == 0 || o.Fallback != 0 || o.Timeouts != 0 {
		t.Fatalf("order stats %+v: want opens held, barriers asked, none without its fork", o)
	}
	if st := s.Stage("order"); st.Passed != st.Received {
		t.Errorf("order stage %+v: everything taken in goes on", st)
	}
}
