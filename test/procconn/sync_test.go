package procconn

import (
	"context"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/procconn"
	"github.com/ruled/ruled/test/e2e"
)

// A barrier (Source.Sync) on the real kernel: the fork of a process
// started before the request is emitted before the answer (Drained), even
// though the main socket is read in batches; and a request with nothing
// queued is answered too (the reader is woken from its wait).
func TestSyncBringsForkBeforeAnswer(t *testing.T) {
	e2e.RequireRoot(t)
	var (
		mu       sync.Mutex
		cond     = sync.NewCond(&mu)
		forks    = map[int]bool{}
		answered uint64
		missing  []int // forks not emitted when their barrier was answered
		want     = map[uint64]int{}
	)
	src := procconn.New(procconn.Config{ReadExec: true, Drained: func(gen uint64) {
		mu.Lock()
		defer mu.Unlock()
		for g, pid := range want {
			if g <= gen {
				if !forks[pid] {
					missing = append(missing, pid)
				}
				delete(want, g)
			}
		}
		answered = gen
		cond.Broadcast()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- src.Run(ctx, func(ev *event.Event) {
			if ev.Evt.Type != event.TypeFork {
				return
			}
			mu.Lock()
			forks[ev.Proc.PID] = true
			mu.Unlock()
		})
	}()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("source: %v", err)
		}
	}()
	// barrier asks barrier gen and waits for its answer.
	barrier := func(gen uint64) bool {
		deadline := time.Now().Add(5 * time.Second)
		for !src.Sync(gen) {
			if time.Now().After(deadline) {
				t.Fatal("the source's reader never took barrier requests")
			}
			time.Sleep(10 * time.Millisecond)
		}
		timer := time.AfterFunc(5*time.Second, func() {
			mu.Lock()
			cond.Broadcast()
			mu.Unlock()
		})
		defer timer.Stop()
		mu.Lock()
		defer mu.Unlock()
		for answered < gen && time.Now().Before(deadline) {
			cond.Wait()
		}
		return answered >= gen
	}
	// Subscribed once a fork shows up.
	for i := 0; ; i++ {
		cmd := exec.Command("/bin/true")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		seen := forks[cmd.Process.Pid]
		mu.Unlock()
		if seen {
			break
		}
		if i == 100 {
			t.Fatal("proc connector delivered no fork within 2 s")
		}
	}

	gen := uint64(0)
	for range 300 {
		cmd := exec.Command("/bin/true")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Start returns after fork (and exec): both are queued.
		gen++
		mu.Lock()
		want[gen] = cmd.Process.Pid
		mu.Unlock()
		if !barrier(gen) {
			t.Fatalf("barrier %d not answered within 5 s", gen)
		}
		_ = cmd.Wait()
	}
	mu.Lock()
	bad := missing
	mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d of %d barriers answered before the fork they cover was emitted: pids %v", len(bad), gen, bad)
	}
	// Nothing queued: the reader waits in the socket and must be woken.
	time.Sleep(50 * time.Millisecond)
	gen++
	if !barrier(gen) {
		t.Fatal("a barrier with nothing queued was not answered")
	}
	if s := src.Stats(); s.Syncs == 0 || s.Syncs > gen {
		t.Errorf("Syncs = %d, want 1..%d", s.Syncs, gen)
	}
}
