package pipeline

import (
	"context"
	"errors"
	"log/slog"
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

var discard = slog.New(slog.DiscardHandler)

func TestFanInFinishesWhenSourcesEnd(t *testing.T) {
	var c stageCounters
	counts := map[string]int{}
	err := fanIn(context.Background(), toSources([]*fakeSource{{name: "a", n: 1000}, {name: "b", n: 500}}), 4, discard, &c,
		func(ev *event.Event) { counts[ev.Evt.Source]++ })
	if err != nil {
		t.Fatal(err)
	}
	if counts["a"] != 1000 || counts["b"] != 500 {
		t.Fatalf("counts = %v", counts)
	}
	if s := c.stats("intake"); s.Received != 1500 || s.Passed != 1500 || s.Dropped != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestFanInReportsSourceError(t *testing.T) {
	boom := errors.New("boom")
	var c stageCounters
	n := 0
	err := fanIn(context.Background(), toSources([]*fakeSource{{name: "bad", n: 3, err: boom}, {name: "good", n: 2}}), DefaultQueue, discard, &c,
		func(*event.Event) { n++ })
	var se *SourceError
	if !errors.As(err, &se) || se.Source != "bad" || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want SourceError bad: boom", err)
	}
	if n != 5 {
		t.Fatalf("handled %d events, want 5 (events before the error are kept)", n)
	}
}

func TestFanInStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var c stageCounters
	done := make(chan error, 1)
	n := 0
	go func() {
		done <- fanIn(ctx, toSources([]*fakeSource{{name: "live", n: 10, wait: true}}), DefaultQueue, discard, &c, func(*event.Event) {
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
		t.Fatal("fanIn did not return after cancel")
	}
}

func toSources(fs []*fakeSource) []sources.Source {
	out := make([]sources.Source, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}
