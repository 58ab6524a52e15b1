package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/netns"
	"github.com/ruled/ruled/sources/enrichers/proctable"
	"github.com/ruled/ruled/sources/event"
)

// fakeSensor emits, for pids 1..n, what one kernel sensor reports of a
// short process: the proc connector its exec and exit, audit its exec.
type fakeSensor struct {
	source    string
	n         int
	container string // the proc connector's exec clue
	wait      bool   // run until cancelled, as a kernel sensor does
}

func (f *fakeSensor) Name() string { return f.source }

func (f *fakeSensor) Run(ctx context.Context, emit func(*event.Event)) error {
	defer func() {
		if f.wait {
			<-ctx.Done()
		}
	}()
	for pid := 1; pid <= f.n; pid++ {
		ev := &event.Event{}
		ev.Evt.Type, ev.Evt.Source, ev.Evt.Success = event.TypeExecve, f.source, true
		ev.Proc.PID, ev.Proc.PPID = pid, 1
		if f.source == event.SourceAudit {
			ev.Proc.Args = []string{fmt.Sprint("run", pid)}
			emit(ev)
			continue
		}
		ev.Proc.Name = "run"
		ev.Container.ID = f.container // read at receive
		emit(ev)
		exit := &event.Event{}
		exit.Evt.Type, exit.Evt.Source, exit.Evt.Success = event.TypeExit, f.source, true
		exit.Proc.PID, exit.Proc.PPID = pid, 1
		emit(exit)
	}
	return nil
}

// livePath assembles the live stages around fake sensors, with a process
// table over an empty /proc (every process is gone before it is read).
// With a runtime (nil: a Docker socket that does not exist) its resolver
// runs as a worker; with merge, the exec merger pairs both sensors' execs.
func livePath(t *testing.T, rt container.Runtime, merge bool, srcs ...sources.Source) *Pipeline {
	t.Helper()
	p := &Pipeline{log: discard, queue: 64, srcs: srcs}
	p.table = proctable.New(proctable.Config{Proc: fstest.MapFS{}, Logger: discard})
	if rt == nil {
		rt = container.NewDocker(t.TempDir() + "/none.sock")
	} else {
		p.workers = append(p.workers, func(ctx context.Context) error { return p.res.Run(ctx) })
	}
	p.res = container.NewResolver(container.Config{Runtime: rt, ProcRoot: t.TempDir(), Logger: discard})
	p.nc = netns.NewCache(netns.Config{Proc: fstest.MapFS{}})
	p.enrich = []sources.Enricher{p.table, p.res, p.nc}
	if merge {
		p.merger = proctable.NewMerger(0, 0, p.merged)
	}
	p.late = newLateEval(p.res, p.evaluate)
	return p
}

// The live stages hand each process's events on in order (its exec before
// its exit) whichever sensor reported first, fold the two reports of one
// exec into one event, and count what went through each stage.
func TestLivePathOrderAndCounters(t *testing.T) {
	const n = 500
	p := livePath(t, nil, true, &fakeSensor{source: event.SourceProcconn, n: n}, &fakeSensor{source: event.SourceAudit, n: n})
	var (
		busy  atomic.Bool
		mu    sync.Mutex
		last  = map[int]string{}
		execs = map[int]int{}
		bad   []string
	)
	err := p.Run(context.Background(), func(ev *event.Event) {
		if busy.Swap(true) {
			panic("sink called concurrently")
		}
		defer busy.Store(false)
		mu.Lock()
		defer mu.Unlock()
		pid := ev.Proc.PID
		switch ev.Evt.Type {
		case event.TypeExecve:
			execs[pid]++
		case event.TypeExit:
			if last[pid] != event.TypeExecve {
				bad = append(bad, fmt.Sprintf("pid %d: exit after %q", pid, last[pid]))
			}
		}
		last[pid] = ev.Evt.Type
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("out of order: %v", bad)
	}
	for pid := 1; pid <= n; pid++ {
		if execs[pid] != 1 || last[pid] != event.TypeExit {
			t.Fatalf("pid %d: %d execs, last %q; want one exec, then its exit", pid, execs[pid], last[pid])
		}
	}
	s := p.Stats()
	in, mg, en, eng := s.Stage("intake"), s.Stage("merge"), s.Stage("enrich"), s.Stage("engine")
	if in.Received != 3*n || in.Passed != 3*n || mg.Received != 3*n {
		t.Errorf("intake %+v merge %+v: want %d in", in, mg, 3*n)
	}
	if mg.Passed != 2*n || mg.Passed+mg.Dropped != mg.Received {
		t.Errorf("merge %+v: want %d out and the %d twins folded", mg, 2*n, n)
	}
	if en.Received != mg.Passed || en.Passed != en.Received || eng.Received != en.Passed || eng.Passed != eng.Received {
		t.Errorf("enrich %+v engine %+v: every merged event reaches the sink", en, eng)
	}
}

// slowRuntime answers every lookup after a delay, as a runtime asked about
// a container it is still creating.
type slowRuntime struct{ info container.Info }

func (r slowRuntime) Inspect(ctx context.Context, id string) (container.Info, error) {
	select {
	case <-time.After(50 * time.Millisecond):
	case <-ctx.Done():
		return container.Info{}, ctx.Err()
	}
	i := r.info
	i.ID = id
	return i, nil
}

func (slowRuntime) Events(ctx context.Context, connected func(), _ func(container.Event)) error {
	connected()
	<-ctx.Done()
	return nil
}

// Events of a container the runtime has not answered for yet wait beside
// the path and reach the sink with the metadata, not without it; the sink
// is still never called concurrently (the path and the wait both deliver).
func TestLivePathWaitsForContainerMetadata(t *testing.T) {
	const n, cid = 50, "c0ffee"
	rt := slowRuntime{info: container.Info{Name: "web", Image: "nginx", Privileged: true, Runtime: event.RuntimeDocker}}
	p := livePath(t, rt, false, &fakeSensor{source: event.SourceProcconn, n: n, container: cid, wait: true})
	var (
		busy  atomic.Bool
		named int
		execs int
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.Run(ctx, func(ev *event.Event) {
		if busy.Swap(true) {
			panic("sink called concurrently")
		}
		defer busy.Store(false)
		if ev.Evt.Type != event.TypeExecve {
			return
		}
		execs++
		if ev.Container.ID == cid && ev.Container.Name == "web" && ev.Container.Privileged {
			named++
		}
		if execs == n {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if execs != n || named != n {
		t.Fatalf("%d execs reached the sink, %d with the container's metadata; want %d and %d", execs, named, n, n)
	}
	s := p.Stats()
	if late := s.Stage("late"); late.Received == 0 || late.Passed != late.Received || s.Late.Unresolved != 0 {
		t.Errorf("late %+v (%+v): want the first events deferred and all resolved", late, s.Late)
	}
}
