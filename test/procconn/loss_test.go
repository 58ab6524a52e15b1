package procconn

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/enrichers/proctable"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/procconn"
	"github.com/ruled/ruled/test/e2e"
)

// counter runs a bare source (no table) and counts the exec events of the
// children of one spawner. delay slows the consumer down.
type counter struct {
	src     *procconn.Source
	mu      sync.Mutex
	spawner map[int]bool
	kids    map[int]bool
	// observe, when set, runs on each event first (the process table).
	observe func(*event.Event)
	execs   atomic.Int64
	resyncs atomic.Int64
}

func startCounter(t testing.TB, buf int, delay time.Duration, observe func(*event.Event)) *counter {
	t.Helper()
	c := &counter{kids: map[int]bool{}, spawner: map[int]bool{}, observe: observe}
	c.src = procconn.New(procconn.Config{ReadBuffer: buf, Resync: func() { c.resyncs.Add(1) }, ResyncEvery: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		errc <- c.src.Run(ctx, func(ev *event.Event) {
			once.Do(func() { close(ready) })
			if delay > 0 {
				time.Sleep(delay)
			}
			if c.observe != nil {
				c.observe(ev)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			switch {
			case ev.Evt.Type == event.TypeFork && c.spawner[ev.Proc.PPID]:
				c.kids[ev.Proc.PID] = true
			case ev.Evt.Type == event.TypeExecve && c.kids[ev.Proc.PID]:
				delete(c.kids, ev.Proc.PID)
				c.execs.Add(1)
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("source: %v", err)
		}
	})
	for i := 0; ; i++ {
		_ = exec.Command("/bin/true").Run()
		select {
		case <-ready:
			return c
		case <-time.After(50 * time.Millisecond):
		}
		if i == 100 {
			t.Fatal("proc connector delivered nothing")
		}
	}
}

// spawn forks and execs /bin/true n times from `shells` shells in
// parallel, as fast as they can.
func (c *counter) spawn(t testing.TB, n, shells int) {
	t.Helper()
	var wg sync.WaitGroup
	for range shells {
		wg.Go(func() { c.spawnOne(t, n/shells) })
	}
	wg.Wait()
}

func (c *counter) spawnOne(t testing.TB, n int) {
	cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf(`read x; i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done`, n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.spawner[cmd.Process.Pid] = true
	c.mu.Unlock()
	stdin.Write([]byte("go\n"))
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Error(err)
	}
}

// settle waits until the exec count stops moving.
func (c *counter) settle(want int64) int64 {
	last, still := int64(-1), 0
	for range 200 {
		n := c.execs.Load()
		if n == want {
			return n
		}
		if n == last {
			still++
			if still == 10 {
				return n
			}
		} else {
			still = 0
		}
		last = n
		time.Sleep(20 * time.Millisecond)
	}
	return c.execs.Load()
}

// TestLossIsCounted: with a tiny socket buffer and a slow consumer the
// socket overflows; every exec event that did not arrive is in Lost, and a
// resync was asked for.
func TestLossIsCounted(t *testing.T) {
	e2e.RequireRoot(t)
	const n = 1500
	c := startCounter(t, 4096, 300*time.Microsecond, nil)
	before := c.src.Stats()
	c.spawn(t, n, 1)
	// Later events on every CPU reveal the sequence gaps of the tail.
	for range 20 {
		_ = exec.Command("/bin/true").Run()
	}
	got := c.settle(n)
	st := c.src.Stats()
	lost := st.Lost - before.Lost
	t.Logf("exec events %d of %d, lost %d, overruns %d, resyncs %d", got, n, lost, st.Overruns-before.Overruns, c.resyncs.Load())
	if st.Overruns == before.Overruns {
		t.Fatal("no overrun with a 4 KiB buffer and a slow reader: the test did not stress the source")
	}
	if got+int64(lost) < n {
		t.Errorf("silent gap: %d exec events + %d lost < %d", got, lost, n)
	}
	if c.resyncs.Load() == 0 {
		t.Error("overrun did not ask for a resync")
	}
}

// BenchmarkExecThroughput measures the exec events per second the source
// delivers while a shell forks and execs /bin/true as fast as it can, and
// the events lost on the way (16 MiB buffer, counting consumer).
func BenchmarkExecThroughput(b *testing.B) {
	b.Run("source", func(b *testing.B) { benchExec(b, nil) })
	b.Run("source+table", func(b *testing.B) {
		tb := proctable.New(proctable.Config{})
		if err := tb.Seed(context.Background()); err != nil {
			b.Fatal(err)
		}
		benchExec(b, func(ev *event.Event) { tb.Observe(ev); tb.Enrich(ev) })
	})
}

func benchExec(b *testing.B, observe func(*event.Event)) {
	if !isRoot() {
		b.Skip("needs root for the proc connector")
	}
	const perLoop = 1000
	c := startCounter(b, 0, 0, observe)
	before := c.src.Stats()
	start := time.Now()
	var want int64
	for b.Loop() {
		c.spawn(b, perLoop, 2)
		want += perLoop
	}
	got := c.settle(want)
	el := time.Since(start)
	st := c.src.Stats()
	b.ReportMetric(float64(got)/el.Seconds(), "execs/s")
	b.ReportMetric(float64(st.Lost-before.Lost), "lost")
	b.ReportMetric(float64(want-got), "missing")
}
