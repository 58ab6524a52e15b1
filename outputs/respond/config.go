package respond

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ruled/ruled/sources/event"
)

// The actions, in the spelling the config uses.
const (
	ActionCommit     = "commit"
	ActionDisconnect = "disconnect"
	ActionPause      = "pause"
	ActionStop       = "stop"
	ActionKill       = "kill"
)

var actions = []string{ActionCommit, ActionDisconnect, ActionPause, ActionStop, ActionKill}

// DefaultCooldown is how long a container is left alone by an entry after
// it acted on it.
const DefaultCooldown = 10 * time.Minute

// Entry is one item of the config's `responses:` list.
type Entry struct {
	Name string `yaml:"name"`
	// Rules are rule names; an alert of any of them matches.
	Rules []string `yaml:"rules"`
	// MinPriority: an alert at least this severe matches.
	MinPriority string `yaml:"min_priority"`
	// Tags: an alert carrying any of them matches.
	Tags []string `yaml:"tags"`
	// Actions run in this order.
	Actions []string `yaml:"actions"`
	// DryRun reports the actions without taking them.
	DryRun bool `yaml:"dry_run"`
	// Cooldown is how long after acting on a container this entry leaves
	// it alone (0: DefaultCooldown).
	Cooldown time.Duration `yaml:"cooldown"`

	// Line is where the entry starts in the config file (0 when not read
	// from YAML).
	Line int `yaml:"-"`

	minPrio event.Priority
	hasPrio bool
}

var entryKeys = map[string]bool{"name": true, "rules": true, "min_priority": true, "tags": true, "actions": true, "dry_run": true, "cooldown": true}

// UnmarshalYAML decodes an entry, refusing unknown keys with their line
// (yaml.v3's KnownFields does not reach custom unmarshalers).
func (e *Entry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a response is a mapping with name, rules/min_priority/tags and actions", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !entryKeys[k.Value] {
			return fmt.Errorf("line %d: response: unknown key %q", k.Line, k.Value)
		}
	}
	type plain Entry
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*e = Entry(p)
	e.Line = n.Line
	return nil
}

// validate checks an entry and prepares its priority.
func (e *Entry) validate() error {
	where := fmt.Sprintf("response %q", e.Name)
	if e.Line > 0 {
		where = fmt.Sprintf("line %d: %s", e.Line, where)
	}
	if strings.TrimSpace(e.Name) == "" {
		return fmt.Errorf("%s: needs a name", where)
	}
	if len(e.Rules) == 0 && len(e.Tags) == 0 && e.MinPriority == "" {
		return fmt.Errorf("%s: needs a match: rules, min_priority or tags (a response to every alert is not a default anyone wants)", where)
	}
	if e.MinPriority != "" {
		p, err := event.ParsePriority(e.MinPriority)
		if err != nil {
			return fmt.Errorf("%s: min_priority: %w", where, err)
		}
		e.minPrio, e.hasPrio = p, true
	}
	if len(e.Actions) == 0 {
		return fmt.Errorf("%s: needs actions (%s)", where, strings.Join(actions, ", "))
	}
	for _, a := range e.Actions {
		if !slices.Contains(actions, a) {
			return fmt.Errorf("%s: unknown action %q (want %s)", where, a, strings.Join(actions, ", "))
		}
	}
	if e.Cooldown < 0 {
		return fmt.Errorf("%s: negative cooldown", where)
	}
	if e.Cooldown == 0 {
		e.Cooldown = DefaultCooldown
	}
	return nil
}

// Validate checks entries as the config loader needs: each one, and names
// unique (the cool-down is kept per name).
func Validate(entries []Entry) error {
	seen := map[string]bool{}
	var errs []error
	for i := range entries {
		if err := entries[i].validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[entries[i].Name] {
			errs = append(errs, fmt.Errorf("response %q: duplicate name", entries[i].Name))
		}
		seen[entries[i].Name] = true
	}
	return errors.Join(errs...)
}

// matches reports whether a matches every criterion e sets.
func (e *Entry) matches(a *event.Alert) bool {
	if len(e.Rules) > 0 && !slices.Contains(e.Rules, a.Rule) {
		return false
	}
	if e.hasPrio && a.Priority > e.minPrio {
		return false
	}
	if len(e.Tags) > 0 && !slices.ContainsFunc(e.Tags, func(t string) bool { return slices.Contains(a.Tags, t) }) {
		return false
	}
	return true
}
