package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/event"
)

type fakeSource struct {
	name string
	n    int
	err  error
	wait bool // block until cancelled after emitting
}

func (f *fakeSource) Name() string { return f.name }

func (f *fakeSource) Run(ctx context.Context, emit func(*event.Event)) error {
	for i := range f.n {
		emit(&event.Event{Proc: event.Proc{PID: i}, Evt: event.Evt{Source: f.name}})
	}
	if f.wait {
		<-ctx.Done()
		return nil
	}
	return f.err
}

func TestRunFinishesWhenSourcesEnd(t *testing.T) {
	p := New(toSources([]*fakeSource{{name: "a", n: 1000}, {name: "b", n: 500}}), 4, nil)
	counts := map[string]int{}
	if err := p.Run(context.Background(), func(ev *event.Event) { counts[ev.Evt.Source]++ }); err != nil {
		t.Fatal(err)
	}
	if counts["a"] != 1000 || counts["b"] != 500 {
		t.Fatalf("counts = %v", counts)
	}
	if s := p.Stats(); s.Received != 1500 || s.Handled != 1500 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestRunReportsSourceError(t *testing.T) {
	boom := errors.New("boom")
	p := New(toSources([]*fakeSource{{name: "bad", n: 3, err: boom}, {name: "good", n: 2}}), 0, nil)
	n := 0
	err := p.Run(context.Background(), func(*event.Event) { n++ })
	var se *SourceError
	if !errors.As(err, &se) || se.Source != "bad" || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want SourceError bad: boom", err)
	}
	if n != 5 {
		t.Fatalf("handled %d events, want 5 (events before the error are kept)", n)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := New(toSources([]*fakeSource{{name: "live", n: 10, wait: true}}), 0, nil)
	done := make(chan error, 1)
	n := 0
	go func() {
		done <- p.Run(ctx, func(*event.Event) {
			n++
			if n == 10 {
				cancel()
			}
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func toSources(fs []*fakeSource) []sources.Source {
	out := make([]sources.Source, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}
