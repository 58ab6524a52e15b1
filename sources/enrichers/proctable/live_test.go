package proctable

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/ruled/ruled/sources/event"
)

// TestConcurrentReaders runs Observe/Enrich on one goroutine while others
// list and look up processes (ruled ps, the plugin): run with -race.
func TestConcurrentReaders(t *testing.T) {
	f := base()
	tb := New(Config{Proc: f.fs})
	if err := tb.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, p := range tb.Processes() {
					_ = tb.Ancestors(p.PID)
				}
				_, _ = tb.Get(200)
				_ = tb.Stats()
			}
		})
	}
	for i := range 2000 {
		pid := 1000 + i
		tb.Observe(pcEv(event.TypeFork, pid, 200))
		ev := pcEv(event.TypeExit, pid, 200)
		tb.Observe(ev)
		tb.Enrich(ev)
		if ev.Proc.PName != "bash" {
			t.Fatalf("pname %q", ev.Proc.PName)
		}
	}
	close(stop)
	wg.Wait()
}

// BenchmarkObserveExecLive is the cost of an exec on the event path: one
// /proc read of a live process (this one) and the table update.
func BenchmarkObserveExecLive(b *testing.B) {
	tb := New(Config{})
	ev := pcEv(event.TypeExecve, os.Getpid(), 0)
	b.ReportAllocs()
	for b.Loop() {
		tb.Observe(ev)
	}
}

// TestLeanExecWithoutStat reads a proc connector exec of a running process
// whose fork the table saw (this one, seeded) while audit reports every
// exec: no stat read (the start time stays the table's), the session from
// getsid(2), and descriptors, namespaces and capabilities as a full read
// gives them.
func TestLeanExecWithoutStat(t *testing.T) {
	tb := New(Config{})
	if err := tb.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	full, ok := tb.Get(pid)
	if !ok {
		t.Fatal("this process is not in the seeded table")
	}
	tb.SetAuditExecs(func() bool { return true })
	warm := pcEv(event.TypeExecve, 1, 0)
	warm.Evt.Source, warm.Proc.Exe = event.SourceAudit, "/sbin/init"
	tb.Observe(warm) // audit's exec records are coming

	const marker = 12345
	tb.mu.Lock()
	tb.procs[pid].StartTime = marker
	tb.mu.Unlock()
	ev := pcEv(event.TypeExecve, pid, 0)
	ev.Proc.Name = "renamed"
	tb.Observe(ev)
	p, _ := tb.Get(pid)
	if p.StartTime != marker {
		t.Errorf("start time %d: stat was read", p.StartTime)
	}
	if p.Name != "renamed" || p.PPID != full.PPID || p.SID != full.SID || p.TTY != full.TTY || p.Partial {
		t.Errorf("lean read: name %q ppid %d sid %d tty %v partial %v; want renamed %d %d %v false",
			p.Name, p.PPID, p.SID, p.TTY, p.Partial, full.PPID, full.SID, full.TTY)
	}
	if p.NS != full.NS || p.Stdio != full.Stdio || !slices.Equal(p.CapEff, full.CapEff) {
		t.Errorf("lean read: ns %+v stdio %+v caps %v; full read: %+v %+v %v", p.NS, p.Stdio, p.CapEff, full.NS, full.Stdio, full.CapEff)
	}

	// Without the comm in the event, stat is read.
	tb.Observe(pcEv(event.TypeExecve, pid, 0))
	if p, _ := tb.Get(pid); p.StartTime == marker || p.Name != full.Name {
		t.Errorf("exec without comm: start %d name %q; want stat's", p.StartTime, p.Name)
	}
}
