package procconn

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/procconn"
	"github.com/ruled/ruled/test/e2e"
)

// TestExecStormCarriesExeAndName: with ReadExec (the proc connector alone),
// an exec's exe and comm are read as its message is received, so a storm of
// quick execs keeps them for at least 99%; every exec that lacks one is
// counted in ExecIncomplete.
func TestExecStormCarriesExeAndName(t *testing.T) {
	e2e.RequireRoot(t)
	const n = 6000
	src := procconn.New(procconn.Config{ReadExec: true})
	type seen struct{ exe, name string }
	var mu sync.Mutex
	execs := map[int]seen{}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- src.Run(ctx, func(ev *event.Event) {
			if ev.Evt.Type != event.TypeExecve {
				return
			}
			mu.Lock()
			execs[ev.Proc.PID] = seen{ev.Proc.Exe, ev.Proc.Name}
			mu.Unlock()
		})
	}()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("source: %v", err)
		}
	}()
	time.Sleep(300 * time.Millisecond) // subscribed
	before := src.Stats().ExecIncomplete

	var pmu sync.Mutex
	var pids []int
	d, err := e2e.ExecStorm(n, 2, []string{"/bin/true"}, func(pid int) {
		pmu.Lock()
		pids = append(pids, pid)
		pmu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	var got, complete, incomplete int
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		got, complete, incomplete = 0, 0, 0
		for _, pid := range pids {
			s, ok := execs[pid]
			if !ok {
				continue
			}
			got++
			if s.exe == "/usr/bin/true" || s.exe == "/bin/true" {
				if s.name == "true" {
					complete++
					continue
				}
			}
			incomplete++
		}
		mu.Unlock()
		if got == n {
			break
		}
	}
	st := src.Stats()
	t.Logf("%d execs in %v: %d received, %d with exe and name (%.2f%%), ExecIncomplete %d, lost %d",
		n, d.Round(time.Millisecond), got, complete, 100*float64(complete)/float64(n), st.ExecIncomplete-before, st.Lost)
	if got+int(st.Lost) < n {
		t.Errorf("%d of %d execs neither received nor counted lost", n-got-int(st.Lost), n)
	}
	if counted := int(st.ExecIncomplete - before); counted < incomplete {
		t.Errorf("%d execs without exe or name, only %d counted", incomplete, counted)
	}
	if complete*100 < n*99 {
		t.Errorf("%d of %d execs carry exe and name, want at least 99%%", complete, n)
	}
}
