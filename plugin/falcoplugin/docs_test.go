package falcoplugin

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ruled/ruled/sources/event"
)

var update = flag.Bool("update", false, "rewrite plugin/FIELDS.md")

const fieldsDoc = "../FIELDS.md"

func TestFieldsDoc(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFieldsDoc(&b); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(fieldsDoc, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(fieldsDoc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Fatalf("%s is stale: run go test ./plugin/falcoplugin -run TestFieldsDoc -update", fieldsDoc)
	}
}

type falcoItem struct {
	Rule      string `yaml:"rule"`
	Macro     string `yaml:"macro"`
	List      string `yaml:"list"`
	Condition string `yaml:"condition"`
	Output    string `yaml:"output"`
	Priority  string `yaml:"priority"`
	Source    string `yaml:"source"`
	Plugins   []struct {
		Name    string `yaml:"name"`
		Version string `yaml:"version"`
	} `yaml:"required_plugin_versions"`
}

var fieldRef = regexp.MustCompile(`ruled\.[a-z0-9_.]+`)

// Falco itself is not installable here, so the shipped Falco rules are
// checked against the plugin's field list: every ruled.* name must exist.
func TestFalcoRulesFields(t *testing.T) {
	b, err := os.ReadFile("../falco/ruled_rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var items []falcoItem
	if err := yaml.Unmarshal(b, &items); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, e := range FieldEntries() {
		known[e.Name] = true
	}
	macros := map[string]bool{}
	var rules []string
	requiresPlugin := false
	for _, it := range items {
		for _, p := range it.Plugins {
			if p.Name == PluginName && p.Version != "" {
				requiresPlugin = true
				// Dev builds report BaseVersion; the rules must load on them.
				if p.Version != BaseVersion {
					t.Errorf("required_plugin_versions ruled %s, want %s (BaseVersion)", p.Version, BaseVersion)
				}
			}
		}
		if it.Macro != "" {
			macros[it.Macro] = true
		}
		for _, ref := range fieldRef.FindAllString(it.Condition+" "+it.Output, -1) {
			ref = strings.TrimRight(ref, ".")
			if !known[ref] {
				t.Errorf("%s%s%s: unknown field %s", it.Rule, it.Macro, it.List, ref)
			}
		}
		if it.Rule == "" {
			continue
		}
		rules = append(rules, it.Rule)
		if it.Source != EventSource {
			t.Errorf("rule %q: source %q, want %q", it.Rule, it.Source, EventSource)
		}
		if _, err := event.ParsePriority(it.Priority); err != nil {
			t.Errorf("rule %q: %v", it.Rule, err)
		}
		if strings.Contains(it.Condition, "==") || strings.Contains(it.Condition, "&&") {
			t.Errorf("rule %q: expr syntax in a Falco condition: %s", it.Rule, it.Condition)
		}
	}
	if !requiresPlugin {
		t.Error("no required_plugin_versions entry for ruled")
	}
	if !macros["ruled_spawned_process"] {
		t.Error("macro ruled_spawned_process missing")
	}

	// Same detections as the default pack: every ruled rule has a Falco
	// counterpart named "Ruled <name>".
	have := map[string]bool{}
	for _, r := range rules {
		have[strings.ToLower(r)] = true
	}
	pack, _ := filepath.Glob("../../rules/*.yaml")
	if len(pack) == 0 {
		t.Fatal("default pack not found in ../../rules")
	}
	var missing []string
	for _, f := range pack {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var its []falcoItem
		if err := yaml.Unmarshal(b, &its); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, it := range its {
			if it.Rule != "" && !have[strings.ToLower("Ruled "+it.Rule)] {
				missing = append(missing, it.Rule)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("default-pack rules without a Falco counterpart in ruled_rules.yaml: %q", missing)
	}
	if !have["ruled rule matched"] {
		t.Error("forwarding rule (ruled.rule != \"\") missing")
	}
}
