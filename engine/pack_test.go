package engine

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/event"
)

func defaultPack(t testing.TB) *Engine {
	t.Helper()
	files, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		t.Fatal(err)
	}
	return mustNew(t, Options{RateLimit: RateLimit{Rate: -1}}, files...)
}

// TestPackIndexEquivalence: on the default pack too, the index never
// changes which rules match.
func TestPackIndexEquivalence(t *testing.T) {
	e := defaultPack(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		ev := randomEvent(rng)
		if got, want := names(e.Match(ev)), evalAll(e, ev); !slices.Equal(got, want) {
			t.Fatalf("event %d (%s): indexed %v, all rules %v", i, ev.Evt.Type, got, want)
		}
	}
}

// TestPackZeroEvents: no shipped rule errors at run time on the zero event
// of any type (STYLE.md: nil traps and out-of-range indexes).
func TestPackZeroEvents(t *testing.T) {
	e := defaultPack(t)
	for _, typ := range append([]string{""}, event.Types...) {
		ev := &event.Event{Evt: event.Evt{Type: typ}}
		e.Match(ev)
		evalAll(e, ev)
	}
	st := newEvalState()
	for _, r := range e.rules {
		for _, typ := range event.Types {
			env := boxEvent(&event.Event{Evt: event.Evt{Type: typ}})
			if _, err := st.vm.Run(r.full, env); err != nil {
				t.Errorf("%s on zero %s event: %v", r.Name, typ, err)
			}
		}
	}
	if s := e.Stats(); s.Errors != 0 {
		t.Errorf("runtime errors: %d", s.Errors)
	}
}

// BenchmarkPackEvalMix runs the mix through the builtin pack and, to show
// the evt.type index serves Falco-language rules too, through Falco's
// upstream stable file instead.
func BenchmarkPackEvalMix(b *testing.B) {
	packs := []struct {
		name string
		eng  func(b *testing.B) *Engine
	}{
		{"builtin", func(b *testing.B) *Engine { return defaultPack(b) }},
		{"falco_rules.yaml", func(b *testing.B) *Engine {
			return mustNew(b, Options{RateLimit: RateLimit{Rate: -1}}, upstreamRules(b, "falco_rules.yaml")...)
		}},
	}
	for _, p := range packs {
		b.Run(p.name, func(b *testing.B) {
			e := p.eng(b)
			evs := benchMix()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e.Eval(evs[i%len(evs)])
				i++
			}
			perEvent := float64(b.Elapsed().Nanoseconds()) / float64(i)
			b.ReportMetric(perEvent, "ns/event")
			b.ReportMetric(1e9/perEvent, "events/s")
			b.ReportMetric(float64(len(e.Rules())), "rules")
		})
	}
}

func BenchmarkPackEvalAllRules(b *testing.B) {
	e := defaultPack(b)
	st := newEvalState()
	env := boxEvent(execEvent("ls", "bash", "3f1c"))
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range e.rules {
			if _, err := st.vm.Run(r.full, env); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(e.rules)), "rules")
}

func BenchmarkPackEvalExecNoMatch(b *testing.B) {
	e := defaultPack(b)
	ev := execEvent("ls", "bash", "3f1c")
	b.ReportAllocs()
	for b.Loop() {
		e.Eval(ev)
	}
}

// BenchmarkPackLoad is what a start or SIGHUP reload costs.
func BenchmarkPackLoad(b *testing.B) {
	files, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(files, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
