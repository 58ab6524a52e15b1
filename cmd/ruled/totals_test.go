package main

import (
	"testing"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/sources/event"
)

func totalsEngine(t *testing.T, rules string) *engine.Engine {
	t.Helper()
	e, err := engine.New([]engine.File{{Name: "t.yaml", Data: []byte(rules)}}, engine.Options{RateLimit: engine.RateLimit{Rate: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A reload must not make the counters go back: the replaced engine's counts
// are carried per rule name, a removed rule is no longer reported and a new
// one starts at zero.
func TestEngineTotalsAcrossReload(t *testing.T) {
	const both = `
- rule: shells
  condition: evt.type = execve and proc.name = sh
  output: x
  priority: WARNING
- rule: removed later
  condition: evt.type = execve
  output: x
  priority: NOTICE
`
	const after = `
- rule: shells
  condition: evt.type = execve and proc.name = sh
  output: x
  priority: WARNING
- rule: added
  condition: evt.type = execve and proc.name = sh
  output: x
  priority: NOTICE
`
	sh := &event.Event{Evt: event.Evt{Type: event.TypeExecve}, Proc: event.Proc{Name: "sh"}}
	ls := &event.Event{Evt: event.Evt{Type: event.TypeExecve}, Proc: event.Proc{Name: "ls"}}

	var tot engineTotals
	first := totalsEngine(t, both)
	first.Eval(sh)
	first.Eval(ls)
	tot.retire(first)
	second := totalsEngine(t, after)
	second.Eval(sh)

	s := tot.stats(second)
	if s.Events != 3 || s.Alerts != 5 {
		t.Errorf("totals: events %d alerts %d, want 3 and 5 (2+1 events; 2+1 then 2 alerts)", s.Events, s.Alerts)
	}
	got := map[string]uint64{}
	for _, r := range s.Rules {
		got[r.Name] = r.Alerts
	}
	want := map[string]uint64{"shells": 2, "added": 1}
	if len(got) != len(want) || got["shells"] != 2 || got["added"] != 1 {
		t.Errorf("per rule alerts %v, want %v", got, want)
	}
	// Without a reload the totals are the engine's own.
	var none engineTotals
	if s := none.stats(second); s.Alerts != 2 {
		t.Errorf("no reload: alerts %d, want 2", s.Alerts)
	}
}
