package main

import (
	"sync"

	"github.com/ruled/ruled/engine"
)

// engineTotals keeps the counts of rule sets a SIGHUP replaced, so the
// metrics' counters and the stats log line keep counting across a reload:
// a Prometheus counter that drops to zero reads as a restart of the agent.
// Rules are matched by name; a rule the new set no longer has stops being
// reported, one it gains starts at zero.
type engineTotals struct {
	mu      sync.Mutex
	retired engine.Stats                // summed counts of replaced engines (Rules unused)
	rules   map[string]engine.RuleStats // the same per rule name
}

// retire adds the counts of an engine that is being replaced. Events its
// last Eval calls count after this (those in flight at the swap) are not
// carried over: a few at most, once per reload.
func (t *engineTotals) retire(old *engine.Engine) {
	s := old.Stats()
	t.mu.Lock()
	defer t.mu.Unlock()
	addStats(&t.retired, s)
	if t.rules == nil {
		t.rules = make(map[string]engine.RuleStats, len(s.Rules))
	}
	for _, r := range s.Rules {
		sum := t.rules[r.Name]
		sum.Name = r.Name
		addRule(&sum, r)
		t.rules[r.Name] = sum
	}
}

// stats returns cur's counts plus those of the engines it replaced.
func (t *engineTotals) stats(cur *engine.Engine) engine.Stats {
	s := cur.Stats()
	t.mu.Lock()
	defer t.mu.Unlock()
	addStats(&s, t.retired)
	for i := range s.Rules {
		if old, ok := t.rules[s.Rules[i].Name]; ok {
			addRule(&s.Rules[i], old)
		}
	}
	return s
}

func addStats(dst *engine.Stats, s engine.Stats) {
	dst.Events += s.Events
	dst.Matched += s.Matched
	dst.Alerts += s.Alerts
	dst.Suppressed += s.Suppressed
	dst.Errors += s.Errors
}

func addRule(dst *engine.RuleStats, r engine.RuleStats) {
	dst.Evaluated += r.Evaluated
	dst.Matched += r.Matched
	dst.Alerts += r.Alerts
	dst.Suppressed += r.Suppressed
	dst.Errors += r.Errors
}
