package proctable

import (
	"context"
	"os"
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
