package proctable

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

type mergeRec struct {
	mu  sync.Mutex
	out []string
	evs []*event.Event
}

func (r *mergeRec) emit(ev *event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := fmt.Sprintf("%s/%s/%d", ev.Evt.Type, ev.Evt.Source, ev.Proc.PID)
	if len(ev.Proc.Args) > 0 {
		s += fmt.Sprint(ev.Proc.Args)
	}
	r.out = append(r.out, s)
	r.evs = append(r.evs, ev)
}

func auEv(typ string, pid int, args ...string) *event.Event {
	ev := &event.Event{}
	ev.Evt.Type, ev.Evt.Source, ev.Evt.Success = typ, event.SourceAudit, true
	ev.Proc.PID, ev.Proc.Args = pid, args
	return ev
}

// pcNamed is a proc connector exec that read the process's name.
func pcNamed(pid int, name string) *event.Event {
	ev := pcEv(event.TypeExecve, pid, 0)
	ev.Proc.Name = name
	return ev
}

func TestMerger(t *testing.T) {
	type step struct {
		ev      *event.Event
		advance time.Duration // before pushing
	}
	tests := []struct {
		name  string
		steps []step
		want  []string // emitted, after a final flush at +1 s
		stats MergeStats
	}{
		{
			name: "procconn then audit: one merged event",
			steps: []step{
				{ev: pcEv(event.TypeExecve, 10, 0)},
				{ev: auEv(event.TypeExecve, 10, "ls", "-l"), advance: 20 * time.Millisecond},
			},
			want:  []string{"execve/audit/10[ls -l]"},
			stats: MergeStats{Held: 1, Merged: 1},
		},
		{
			name: "audit then procconn: the late twin is dropped",
			steps: []step{
				{ev: auEv(event.TypeExecve, 11, "id")},
				{ev: pcEv(event.TypeExecve, 11, 0), advance: 5 * time.Millisecond},
			},
			want:  []string{"execve/audit/11[id]"},
			stats: MergeStats{Merged: 1},
		},
		{
			name: "procconn alone goes out after the window",
			steps: []step{
				{ev: pcEv(event.TypeExecve, 12, 0)},
				{ev: pcEv(event.TypeFork, 99, 1), advance: 200 * time.Millisecond},
			},
			want:  []string{"execve/procconn/12", "fork/procconn/99"},
			stats: MergeStats{Held: 1, Alone: 1, AloneUnnamed: 1},
		},
		{
			name: "audit after the window is dropped as late",
			steps: []step{
				{ev: pcNamed(13, "x")},
				{ev: auEv(event.TypeExecve, 13, "x"), advance: 150 * time.Millisecond},
			},
			want:  []string{"execve/procconn/13"},
			stats: MergeStats{Held: 1, Alone: 1, LateAudit: 1},
		},
		{
			// The process was gone before /proc was read: only audit's
			// report names the exec, so it goes out, late.
			name: "audit after the window of an unnamed exec goes out late",
			steps: []step{
				{ev: pcEv(event.TypeExecve, 20, 0)},
				{ev: auEv(event.TypeExecve, 20, "x"), advance: 150 * time.Millisecond},
			},
			want:  []string{"execve/procconn/20", "execve/audit/20[x]"},
			stats: MergeStats{Held: 1, Alone: 1, AloneUnnamed: 1, LateEmitted: 1},
		},
		{
			name: "exit waits behind its held exec",
			steps: []step{
				{ev: pcEv(event.TypeExecve, 14, 0)},
				{ev: pcEv(event.TypeExit, 14, 1)},
				{ev: pcEv(event.TypeExit, 15, 1)},
				{ev: auEv(event.TypeExecve, 14, "true"), advance: 10 * time.Millisecond},
			},
			want:  []string{"exit/procconn/15", "execve/audit/14[true]", "exit/procconn/14"},
			stats: MergeStats{Held: 1, Merged: 1},
		},
		{
			name: "failed audit execve passes through",
			steps: []step{
				{ev: func() *event.Event { e := auEv(event.TypeExecve, 16, "nope"); e.Evt.Success = false; return e }()},
			},
			want: []string{"execve/audit/16[nope]"},
		},
		{
			// sh -c 'cp ...; /tmp/ls' execs /tmp/ls in place: both
			// proc connector reports come before audit's first.
			name: "two execs of one pid pair in order",
			steps: []step{
				{ev: pcEv(event.TypeExecve, 17, 0)},
				{ev: pcEv(event.TypeExit, 17, 0)},
				{ev: pcEv(event.TypeExecve, 17, 0), advance: time.Millisecond},
				{ev: auEv(event.TypeExecve, 17, "sh", "-c", "x"), advance: time.Millisecond},
				{ev: auEv(event.TypeExecve, 17, "/tmp/ls"), advance: time.Millisecond},
			},
			want:  []string{"execve/audit/17[sh -c x]", "exit/procconn/17", "execve/audit/17[/tmp/ls]"},
			stats: MergeStats{Held: 2, Merged: 2},
		},
		{
			name: "the second of two execs without its audit twin goes out alone",
			steps: []step{
				{ev: pcEv(event.TypeExecve, 18, 0)},
				{ev: pcEv(event.TypeExecve, 18, 0), advance: time.Millisecond},
				{ev: auEv(event.TypeExecve, 18, "first"), advance: time.Millisecond},
			},
			want:  []string{"execve/audit/18[first]", "execve/procconn/18"},
			stats: MergeStats{Held: 2, Alone: 1, AloneUnnamed: 1, Merged: 1},
		},
		{
			name: "two late audits of two lone execs are both dropped",
			steps: []step{
				{ev: pcNamed(19, "a")},
				{ev: pcNamed(19, "b"), advance: time.Millisecond},
				{ev: auEv(event.TypeExecve, 19, "a"), advance: 150 * time.Millisecond},
				{ev: auEv(event.TypeExecve, 19, "b"), advance: time.Millisecond},
				{ev: auEv(event.TypeExecve, 19, "c"), advance: time.Millisecond},
			},
			want:  []string{"execve/procconn/19", "execve/procconn/19", "execve/audit/19[c]"},
			stats: MergeStats{Held: 2, Alone: 2, LateAudit: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r mergeRec
			c := &clock{t: time.Unix(1000, 0)}
			m := NewMerger(100*time.Millisecond, 16, r.emit)
			m.now = c.now
			for _, s := range tt.steps {
				c.advance(s.advance)
				m.Push(s.ev)
			}
			c.advance(time.Second)
			m.Flush()
			if !reflect.DeepEqual(r.out, tt.want) {
				t.Errorf("emitted %q\nwant    %q", r.out, tt.want)
			}
			if got := m.Stats(); got != tt.stats {
				t.Errorf("stats %+v want %+v", got, tt.stats)
			}
		})
	}
}

func TestMergerKeepsEarlierTime(t *testing.T) {
	var r mergeRec
	m := NewMerger(time.Second, 0, r.emit)
	pc := pcEv(event.TypeExecve, 5, 4)
	pc.Evt.Time = time.Unix(100, 0)
	au := auEv(event.TypeExecve, 5, "a")
	au.Evt.Time = time.Unix(100, 5000)
	au.Evt.Keys = []string{"exec"}
	m.Push(pc) // Push takes the event: the merge releases the twin it folds
	m.Push(au)
	if len(r.evs) != 1 {
		t.Fatalf("%d events", len(r.evs))
	}
	got := r.evs[0]
	if !got.Evt.Time.Equal(time.Unix(100, 0)) || got.Proc.PPID != 4 || !reflect.DeepEqual(got.Evt.Keys, []string{"exec"}) {
		t.Errorf("merged %+v", got)
	}
}

func TestMergerKeepsProcconnContainer(t *testing.T) {
	var got *event.Event
	m := NewMerger(time.Second, 0, func(ev *event.Event) { got = ev })
	pc := pcEv(event.TypeExecve, 5, 0)
	pc.Container.ID = "c0ffee"
	m.Push(pc)
	m.Push(auEv(event.TypeExecve, 5, "sh"))
	if got == nil || got.Container.ID != "c0ffee" || got.Proc.Cmdline != "" && got.Proc.Args[0] != "sh" {
		t.Fatalf("merged event %+v", got)
	}
}

func TestMergerBounded(t *testing.T) {
	var r mergeRec
	m := NewMerger(time.Hour, 4, r.emit)
	for pid := 1; pid <= 10; pid++ {
		m.Push(pcEv(event.TypeExecve, pid, 0))
	}
	if s := m.Stats(); s.Forced != 6 || len(r.out) != 6 {
		t.Errorf("forced %d emitted %d, want 6 and 6", s.Forced, len(r.out))
	}
}

func TestMergerRunFlushesOnCancel(t *testing.T) {
	var r mergeRec
	m := NewMerger(50*time.Millisecond, 0, r.emit)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	m.Push(pcEv(event.TypeExecve, 1, 0))
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		n := len(r.out)
		r.mu.Unlock()
		if n == 1 {
			break
		}
		select {
		case <-deadline:
			t.Fatal("held event never released by Run")
		case <-time.After(10 * time.Millisecond):
		}
	}
	m.Push(pcEv(event.TypeExecve, 2, 0))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(r.out) != 2 {
		t.Errorf("emitted %v after cancel", r.out)
	}
}

// A merged exec behind one still waiting for its partner stays in the FIFO
// until that one's window ends; it must not keep its events alive meanwhile
// (with a 1 s window under an exec storm, megabytes of them).
func TestMergerReleasedKeepsNoEvents(t *testing.T) {
	var rec mergeRec
	m := NewMerger(time.Second, 0, rec.emit)
	m.Push(pcEv(event.TypeExecve, 1, 0)) // waits
	m.Push(pcEv(event.TypeExecve, 2, 0))
	m.Push(pcEv(event.TypeExit, 2, 0)) // follows 2's exec
	m.Push(auEv(event.TypeExecve, 2, "id"))
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.order) != 2 || !m.order[1].done {
		t.Fatalf("order %d entries; want 1's waiting and 2's released behind it", len(m.order))
	}
	if h := m.order[1]; h.ev != nil || h.followers != nil {
		t.Errorf("released entry still holds its event %v and %d followers", h.ev != nil, len(h.followers))
	}
	if len(rec.out) != 2 {
		t.Errorf("emitted %v; want 2's merged exec and its exit", rec.out)
	}
}

// What emit does (enrichment that reads a namespace's socket table, rule
// evaluation) runs outside Merger.mu: a Push while emit is busy returns at
// once, and its event follows the busy one's, in order.
func TestMergerEmitsOutsideTheLock(t *testing.T) {
	var rec mergeRec
	entered, unblock := make(chan struct{}), make(chan struct{})
	first := true
	m := NewMerger(time.Second, 0, func(ev *event.Event) {
		if first {
			first = false
			close(entered)
			<-unblock
		}
		rec.emit(ev)
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Push(pcEv(event.TypeFork, 1, 0))
	}()
	<-entered
	pushed := make(chan struct{})
	go func() {
		defer close(pushed)
		m.Push(pcEv(event.TypeExecve, 2, 0)) // held: nothing to emit
		m.Push(pcEv(event.TypeExit, 3, 0))
		_ = m.Stats()
	}()
	select {
	case <-pushed:
	case <-time.After(5 * time.Second):
		t.Fatal("Push blocked while emit was busy")
	}
	close(unblock)
	<-done
	m.Flush()
	want := []string{"fork/procconn/1", "exit/procconn/3", "execve/procconn/2"}
	if !reflect.DeepEqual(rec.out, want) {
		t.Errorf("emitted %q, want %q", rec.out, want)
	}
}

// Push from the event path and Run's window expiry from its own goroutine
// hand events out one at a time, each pid's exec before its later events.
func TestMergerConcurrentReleaseKeepsOrder(t *testing.T) {
	var (
		busy atomic.Bool
		mu   sync.Mutex // only for the race detector: emit runs alone
		bad  []string
	)
	last := map[int]string{}
	m := NewMerger(time.Millisecond, 0, func(ev *event.Event) {
		if busy.Swap(true) {
			panic("emit called concurrently")
		}
		defer busy.Store(false)
		mu.Lock()
		if ev.Evt.Type == event.TypeExit && last[ev.Proc.PID] != event.TypeExecve {
			bad = append(bad, fmt.Sprintf("pid %d exit after %q", ev.Proc.PID, last[ev.Proc.PID]))
		}
		last[ev.Proc.PID] = ev.Evt.Type
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	for pid := 1; pid <= 2000; pid++ {
		m.Push(pcEv(event.TypeExecve, pid, 0))
		if pid%3 == 0 {
			time.Sleep(20 * time.Microsecond)
		}
		m.Push(pcEv(event.TypeExit, pid, 0))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(last) != 2000 || len(bad) > 0 {
		t.Fatalf("%d pids emitted; problems: %v", len(last), bad)
	}
}

// While one caller hands events out through a slow emit, the released
// events another caller leaves to it are bounded: past max that caller
// waits for room, as the event path waits for a slow next stage.
func TestMergerBoundsWhatWaitsForEmit(t *testing.T) {
	const max = 4
	entered, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var n atomic.Int64
	m := NewMerger(time.Second, max, func(*event.Event) {
		once.Do(func() {
			close(entered)
			<-unblock
		})
		n.Add(1)
	})
	go m.Push(pcEv(event.TypeFork, 1000, 0)) // becomes the slow emitter
	<-entered
	pushed := make(chan int, 2*max)
	go func() {
		for i := range 2 * max {
			m.Push(pcEv(event.TypeFork, i+1, 0))
			pushed <- i
		}
	}()
	// The push that fills out to max waits.
	deadline := time.After(5 * time.Second)
	for got := 0; got < max-1; got++ {
		select {
		case <-pushed:
		case <-deadline:
			t.Fatalf("only %d pushes returned while emit was busy; want %d", got, max-1)
		}
	}
	select {
	case <-pushed:
		t.Fatalf("the push filling max=%d returned while emit was busy", max)
	case <-time.After(100 * time.Millisecond):
	}
	close(unblock)
	for range max + 1 {
		select {
		case <-pushed:
		case <-time.After(5 * time.Second):
			t.Fatal("pushes still blocked after emit caught up")
		}
	}
	m.Flush()
	if got := n.Load(); got != 2*max+1 {
		t.Errorf("emitted %d, want %d", got, 2*max+1)
	}
}
