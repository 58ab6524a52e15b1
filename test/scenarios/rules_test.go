package scenarios

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gopkg.in/yaml.v3"
)

// rulesDir is the default pack, relative to this package.
const rulesDir = "../../rules"

// defaultRules lists the enabled rules of the default pack in load order.
// It reads the YAML itself rather than the engine, so the suite names the
// rules even when the engine's API moves; a rule turned off by a later
// override (enabled: false) does not count.
func defaultRules(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	enabled := map[string]bool{}
	var order []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		names, en, err := parseRuleItems(b)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		for i, n := range names {
			_, seen := enabled[n]
			switch {
			case en[i] != nil:
				enabled[n] = *en[i]
			case !seen:
				enabled[n] = true
			}
			if !seen {
				order = append(order, n)
			}
		}
	}
	var out []string
	for _, n := range order {
		if enabled[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

type ruleItem struct {
	Rule    string `yaml:"rule"`
	Enabled *bool  `yaml:"enabled"`
}

// parseRuleItems returns the rule names of one rules file and, per name,
// its enabled key when given.
func parseRuleItems(b []byte) ([]string, []*bool, error) {
	var items []ruleItem
	if err := yaml.Unmarshal(b, &items); err != nil {
		return nil, nil, err
	}
	var names []string
	var en []*bool
	for _, it := range items {
		if it.Rule == "" {
			continue
		}
		names = append(names, it.Rule)
		en = append(en, it.Enabled)
	}
	return names, en, nil
}
