package falcoplugin

import (
	"io/fs"
	"log/slog"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/event"
)

// BuiltinRules is the pack the rules word "builtin" names (rules.Pack).
var BuiltinRules fs.FS = rules.Pack

// engineMatcher adapts the ruled engine to Matcher.
type engineMatcher struct {
	e *engine.Engine
}

func loadEngine(paths []string, rateLimit float64, logger *slog.Logger) (Matcher, error) {
	files, err := engine.ReadPaths(paths, BuiltinRules)
	if err != nil {
		return nil, err
	}
	rl := engine.RateLimit{Rate: -1}
	if rateLimit > 0 {
		rl = engine.RateLimit{Rate: rateLimit, Burst: max(1, int(rateLimit))}
	}
	e, err := engine.New(files, engine.Options{RateLimit: rl, Logger: logger})
	if err != nil {
		return nil, err
	}
	return &engineMatcher{e: e}, nil
}

func (m *engineMatcher) Match(ev *event.Event) []Match {
	rs := m.e.Match(ev)
	if len(rs) == 0 {
		return nil
	}
	out := make([]Match, len(rs))
	for i, r := range rs {
		s, _ := r.Render(ev)
		out[i] = Match{Rule: r.Name, Priority: r.Priority, Tags: r.Tags, Output: s}
	}
	return out
}
