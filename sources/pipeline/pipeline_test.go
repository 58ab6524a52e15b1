package pipeline

import (
	"context"
	"strconv"
	"testing"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/event"
)

const oddRule = `
- rule: odd pid
  desc: test
  condition: evt.type == "execve" && proc.pid % 2 == 1
  output: "odd %proc.pid"
  priority: WARNING
`

// runOddRule runs src offline through oddRule and returns the path and
// its alerts.
func runOddRule(t *testing.T, src sources.Source, queue int) (*Pipeline, []event.Alert) {
	t.Helper()
	eng, err := engine.New([]engine.File{{Name: "odd.yaml", Data: []byte(oddRule)}}, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var alerts []event.Alert
	p, err := New(Config{Offline: []sources.Source{src}, Rules: func() *engine.Engine { return eng },
		Alert: func(a event.Alert) { alerts = append(alerts, a) }, Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return p, alerts
}

// An offline path (a replay) goes from intake straight to the engine; its
// stages count what went through.
func TestOfflineToEngine(t *testing.T) {
	p, alerts := runOddRule(t, &execSource{n: 100}, 0)
	if len(alerts) != 50 {
		t.Fatalf("%d alerts, want 50", len(alerts))
	}
	s := p.Stats()
	if in, en := s.Stage("intake"), s.Stage("engine"); in.Received != 100 || in.Passed != 100 || en.Received != 100 || en.Passed != 50 {
		t.Errorf("stages %+v", s.Stages)
	}
	if s.Sensors != nil || s.EvalTime <= 0 {
		t.Errorf("offline stats: sensors %v, eval time %v", s.Sensors, s.EvalTime)
	}
}

// Events that raise no alert go back to the sensors' pool (event.Release)
// once the engine has seen them; an alerted event stays its alert's.
func TestReleaseAfterEngine(t *testing.T) {
	src := &pooledSource{n: 200}
	// A queue of one keeps the source from emitting everything before the
	// engine has released anything.
	_, alerts := runOddRule(t, src, 1)
	if len(alerts) != 100 {
		t.Fatalf("%d alerts, want 100", len(alerts))
	}
	for _, a := range alerts {
		if a.Event.Proc.PID%2 != 1 || a.Output != "odd "+strconv.Itoa(a.Event.Proc.PID) || a.Event.Evt.Type != event.TypeExecve {
			t.Fatalf("alert %q holds a reused event: pid %d type %q", a.Output, a.Event.Proc.PID, a.Event.Evt.Type)
		}
	}
	if len(src.seen) == 200 {
		t.Error("no event struct was reused")
	}
}

// pooledSource emits execs of pids 0..n-1 in structs from event.New, as
// the live sensors do.
type pooledSource struct {
	n    int
	seen map[*event.Event]bool
}

func (*pooledSource) Name() string { return "pooled" }

func (s *pooledSource) Run(_ context.Context, emit func(*event.Event)) error {
	s.seen = map[*event.Event]bool{}
	for i := range s.n {
		ev := event.New()
		s.seen[ev] = true
		ev.Evt.Type, ev.Evt.Source, ev.Evt.Success = event.TypeExecve, event.SourceReplay, true
		ev.Proc.PID = i
		emit(ev)
	}
	return nil
}

// Without Rules the path ends at the sink, in order for one source.
func TestOfflineToSink(t *testing.T) {
	p, err := New(Config{Offline: []sources.Source{&execSource{n: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	if err := p.Run(context.Background(), func(ev *event.Event) { pids = append(pids, ev.Proc.PID) }); err != nil {
		t.Fatal(err)
	}
	for i, pid := range pids {
		if pid != i {
			t.Fatalf("sink got pids %v", pids)
		}
	}
	if len(pids) != 10 {
		t.Fatalf("sink got %d events", len(pids))
	}
}

func TestConfigChecks(t *testing.T) {
	if _, err := New(Config{Offline: []sources.Source{&execSource{}}, Rules: func() *engine.Engine { return nil }}); err == nil {
		t.Error("Rules without Alert accepted")
	}
	p, err := New(Config{Offline: []sources.Source{&execSource{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), nil); err == nil {
		t.Error("Run with neither a sink nor Rules accepted")
	}
}

type execSource struct{ n int }

func (*execSource) Name() string { return "test" }

func (s *execSource) Run(_ context.Context, emit func(*event.Event)) error {
	for i := range s.n {
		ev := &event.Event{}
		ev.Evt.Type, ev.Evt.Source, ev.Evt.Success = event.TypeExecve, event.SourceReplay, true
		ev.Proc.PID = i
		emit(ev)
	}
	return nil
}
