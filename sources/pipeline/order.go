package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// Bounds of the order stage.
const (
	// orderMax bounds the audit events waiting for a barrier; past it the
	// oldest goes on without its fork (counted).
	orderMax = 4096
	// orderWait bounds how long one waits: the proc connector's answer
	// comes within a drain of its socket (about a millisecond); this is
	// for a reader that stalled. Well under the exec merge's window, so a
	// proc connector exec still finds audit's twin.
	orderWait = 250 * time.Millisecond
)

// orderGate is the path's first stage with both sensors: it makes the
// process table see a process's fork before anything audit reports about
// it, whichever sensor's message came first.
//
// The kernel queues a child's fork message on the proc connector socket in
// fork itself, before the child runs, so by the time the path meets audit's
// record of anything the child did, the fork is in that socket or already
// on its way through the intake queue (unless the socket overflowed). The
// proc connector's main socket is read in batches, so audit's record often
// comes first. The gate then holds the audit event (and every audit event
// after it, which keeps audit's order) and asks the proc connector for a
// barrier (procconn.Source.Sync): its reader drains its socket, emits what
// it read and then a marker into the same intake queue. The events the
// marker comes behind are observed first (the fork among them), then the
// audit events held for it. A pid still unknown after its barrier never had
// a fork to wait for (an overflow, a process older than the seed): the
// table reads it from /proc (proctable.Table.Observe), counted as fallback.
//
// It runs on the intake goroutine only, so it needs no lock; its counters
// are read by Stats.
type orderGate struct {
	known   func(pid int) bool    // the table has the pid
	sync    func(gen uint64) bool // procconn.Source.Sync
	observe func(ev *event.Event) // the next stage
	now     func() time.Time

	q        []held // FIFO, oldest at head
	head     int
	gen      uint64         // the newest barrier asked for
	answered uint64         // the newest answered
	asked    map[int]uint64 // unknown pid held → the barrier that brings its fork
	timer    *time.Timer
	armed    bool

	c                                         stageCounters
	held, syncs, fallback, timeouts, overflow atomic.Uint64
}

// held is one audit event waiting for barrier need.
type held struct {
	ev   *event.Event
	need uint64 // 0: none of its own (it keeps order behind the others)
	at   time.Time
}

// OrderStats are the order stage's own counters.
type OrderStats struct {
	Held     uint64 // audit events that waited for a barrier, or behind one
	Syncs    uint64 // barriers asked of the proc connector
	Fallback uint64 // events whose process was still unknown after the wait (the table reads /proc)
	Timeouts uint64 // events let go because no answer came in time (orderWait)
	Overflow uint64 // events let go early because orderMax waited
}

func newOrderGate(known func(int) bool, sync func(uint64) bool, observe func(*event.Event)) *orderGate {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &orderGate{known: known, sync: sync, observe: observe, now: time.Now, asked: map[int]uint64{}, timer: t}
}

// event takes the next event from the intake.
func (g *orderGate) event(ev *event.Event) {
	g.c.received.Add(1)
	if ev.Evt.Source != event.SourceAudit || ev.Proc.PID <= 0 {
		g.pass(ev)
		return
	}
	waiting := g.len() > 0
	pid := ev.Proc.PID
	known := g.known(pid)
	if !waiting && known {
		g.pass(ev)
		return
	}
	var need uint64
	if _, asked := g.asked[pid]; !asked && !known {
		// The first event of a process the table has not met: ask for
		// the barrier that brings its fork. (A later one comes behind
		// it and needs no other.)
		g.gen++
		if !g.sync(g.gen) {
			// No proc connector reader to answer: no fork will come
			// that has not come already.
			g.flush()
			g.fallback.Add(1)
			g.pass(ev)
			return
		}
		g.syncs.Add(1)
		need = g.gen
		g.asked[pid] = need
	} else if !waiting {
		g.pass(ev)
		return
	}
	if g.len() >= orderMax {
		g.overflow.Add(1)
		g.release(g.pop())
	}
	g.held.Add(1)
	g.q = append(g.q, held{ev: ev, need: need, at: g.now()})
	if !g.armed {
		g.arm()
	}
}

// drained takes the proc connector's answer to barrier gen: every event it
// read before is observed; the audit events waiting for it go on.
func (g *orderGate) drained(gen uint64) {
	g.answered = max(g.answered, gen)
	for g.len() > 0 && g.q[g.head].need <= g.answered {
		g.release(g.pop())
	}
	g.arm()
}

// timerC fires when the oldest waiting event's time is up; nil when none
// waits.
func (g *orderGate) timerC() <-chan time.Time {
	if !g.armed {
		return nil
	}
	return g.timer.C
}

// expire lets go the events whose wait is over, and those behind them that
// need no barrier still to come.
func (g *orderGate) expire() {
	g.armed = false
	now := g.now()
	for g.len() > 0 {
		h := g.q[g.head]
		if h.need > g.answered && now.Sub(h.at) < orderWait {
			break
		}
		if h.need > g.answered {
			g.timeouts.Add(1)
		}
		g.release(g.pop())
	}
	g.arm()
}

// flush lets every waiting event go, in order (at stop, or with no reader
// to answer).
func (g *orderGate) flush() {
	for g.len() > 0 {
		g.release(g.pop())
	}
	g.arm()
}

// arm sets the timer for the oldest waiting event.
func (g *orderGate) arm() {
	if g.len() == 0 {
		if g.armed {
			g.timer.Stop()
			g.armed = false
		}
		return
	}
	g.timer.Reset(max(orderWait-g.now().Sub(g.q[g.head].at), 0))
	g.armed = true
}

func (g *orderGate) len() int { return len(g.q) - g.head }

func (g *orderGate) pop() held {
	h := g.q[g.head]
	g.q[g.head] = held{}
	g.head++
	if g.head == len(g.q) {
		g.q, g.head = g.q[:0], 0
	} else if g.head >= orderMax/2 && g.head*2 >= len(g.q) {
		n := copy(g.q, g.q[g.head:])
		clear(g.q[n:])
		g.q, g.head = g.q[:n], 0
	}
	return h
}

// release hands on a waiting event.
func (g *orderGate) release(h held) {
	pid := h.ev.Proc.PID
	if h.need != 0 {
		if g.asked[pid] == h.need {
			delete(g.asked, pid)
		}
		if !g.known(pid) {
			g.fallback.Add(1)
		}
	}
	g.pass(h.ev)
}

func (g *orderGate) pass(ev *event.Event) {
	g.c.passed.Add(1)
	g.observe(ev)
}

func (g *orderGate) stats() OrderStats {
	return OrderStats{Held: g.held.Load(), Syncs: g.syncs.Load(), Fallback: g.fallback.Load(),
		Timeouts: g.timeouts.Load(), Overflow: g.overflow.Load()}
}
