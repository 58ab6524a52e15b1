package falcoplugin

import (
	"log/slog"

	"github.com/ruled/ruled/sources/event"
)

// Match is one ruled rule that matched an event, as the rule fields show it.
type Match struct {
	Rule     string
	Priority event.Priority
	Tags     []string
	Output   string
}

// Matcher evaluates ruled rules; the engine implements it through
// engineMatcher. It is called from extraction only, never concurrently.
type Matcher interface {
	Match(ev *event.Event) []Match
}

// RulesLoader builds a Matcher from the rules paths of the init config.
type RulesLoader func(paths []string, rateLimit float64, logger *slog.Logger) (Matcher, error)

// LoadRules is the RulesLoader Init uses when the config names rules.
var LoadRules RulesLoader = loadEngine
