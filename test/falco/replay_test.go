package falco

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ruled/ruled/engine/ruletest"
	"github.com/ruled/ruled/test/falco/falcotest"
)

// snippet is what the test reads of plugin/falco/falco.yaml.
type snippet struct {
	Plugins     []map[string]any `yaml:"plugins"`
	LoadPlugins []string         `yaml:"load_plugins"`
	RulesFiles  []string         `yaml:"rules_files"`
}

// shipped installs plugin/falco/falco.yaml as a user does, as a drop-in of
// a Falco configured like a packaged one (the container plugin loaded,
// Falco's upstream falco_rules.yaml in rules_files), with only its paths
// adjusted: the library is the plugin built from this tree and
// /etc/falco/ruled_rules.yaml the repository's file. replay (when true)
// turns the live open_params into a replay of Replay's events.
func shipped(t *testing.T, f *falcotest.Falco, replay bool) (falcotest.Config, snippet) {
	t.Helper()
	b, err := os.ReadFile(f.Path("plugin/falco/falco.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc snippet
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("plugin/falco/falco.yaml: %v", err)
	}
	if len(doc.Plugins) != 1 || doc.Plugins[0]["name"] != "ruled" || !slices.Equal(doc.LoadPlugins, []string{"ruled"}) ||
		!slices.Equal(doc.RulesFiles, []string{"/etc/falco/ruled_rules.yaml"}) {
		t.Fatalf("plugin/falco/falco.yaml: want one plugins entry named ruled, load_plugins [ruled], rules_files [/etc/falco/ruled_rules.yaml]: %+v", doc)
	}
	text := strings.NewReplacer(
		"/usr/share/falco/plugins/libruled.so", f.Plugin,
		"/etc/falco/ruled_rules.yaml", f.Path("plugin/falco/ruled_rules.yaml"),
	).Replace(string(b))
	if replay {
		live := fmt.Sprintf("open_params: %q", doc.Plugins[0]["open_params"])
		if !strings.Contains(text, live) {
			t.Fatalf("plugin/falco/falco.yaml: no line %s", live)
		}
		text = strings.Replace(text, live, fmt.Sprintf("open_params: %q", "replay:"+falcotest.EventsPath), 1)
	}
	// The packaged Falco loads the container plugin, which the upstream
	// rules require; here a stand-in declares its fields.
	container := map[string]any{"name": "container", "library_path": f.BuildPlugin(t, "./test/falco/containerfields"), "init_config": ""}
	return falcotest.Config{
		RulesFiles:   []string{f.Path("../shared/falco-rules/falco_rules.yaml")},
		ExtraPlugins: []map[string]any{container},
		DropIns:      []string{text},
	}, doc
}

// caseTime gives case i its own event time, by which Falco's alerts (whose
// time is the event's) are matched back to the case.
func caseTime(i int) time.Time {
	return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
}

// packCases reads the default pack's test cases and encodes their events as
// JSON lines, each with its caseTime.
func packCases(t *testing.T, f *falcotest.Falco) ([]ruletest.Case, []byte) {
	t.Helper()
	cases, err := ruletest.ReadFiles([]string{f.Path("rules/tests")})
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 100 {
		t.Fatalf("only %d cases in rules/tests", len(cases))
	}
	var events bytes.Buffer
	for i, c := range cases {
		c.Event.Evt.Time = caseTime(i)
		b, err := json.Marshal(c.Event)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		events.Write(b)
		events.WriteByte('\n')
	}
	return cases, events.Bytes()
}

// byCase groups alerts by the case whose event raised them.
func byCase(t *testing.T, cases []ruletest.Case, alerts []falcotest.Alert) map[int][]falcotest.Alert {
	t.Helper()
	out := map[int][]falcotest.Alert{}
	for _, a := range alerts {
		i := int(a.Time.Sub(caseTime(0)) / time.Millisecond)
		if i < 0 || i >= len(cases) || !a.Time.Equal(caseTime(i)) {
			t.Errorf("alert %q at %s matches no case", a.Rule, a.Time)
			continue
		}
		out[i] = append(out[i], a)
	}
	return out
}

// Cases where the Falco twin deliberately differs from the ruled rule,
// because Falco's condition language has no equivalent (the comments in
// ruled_rules.yaml say so). Keyed by case name; the value is the reason.
var knownDifferences = map[string]string{
	"GLIBC_TUNABLES in the environment": "no prefix test over a list field's elements in Falco's language: the twin is off",
}

// TestShippedRules runs the shipped snippet and rules, unedited, inside the
// real Falco next to Falco's upstream rules, on the events of every test
// case of the default pack: each Falco twin must fire exactly where its
// ruled rule must, so every rule fires on the events made for it and stays
// silent on the near misses.
func TestShippedRules(t *testing.T) {
	f := falcotest.Require(t)
	cfg, _ := shipped(t, f, true)
	cases, events := packCases(t, f)
	res, err := f.Replay(t, cfg, events)
	if err != nil {
		t.Fatal(err)
	}
	// Falco's upstream rules loaded beside ruled's (their syscall rules stay
	// idle with the syscall source disabled, but a load error would have
	// ended the run).
	for _, want := range []string{"falco_rules.yaml", "ruled_rules.yaml"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("Falco's log does not mention loading %s:\n%s", want, res.Stderr)
		}
	}
	if strings.Contains(res.Stderr, "ruled_rules.yaml") && strings.Contains(strings.ToLower(res.Stderr), "warning") {
		t.Errorf("Falco warns about the rules files:\n%s", res.Stderr)
	}

	twins := falcoRules(t, f)
	got := byCase(t, cases, res.Alerts)
	fired := map[string]int{}
	silent := map[string]int{}
	for i, c := range cases {
		want := map[string]bool{}
		for _, r := range c.Expect {
			want["Ruled "+r] = true
		}
		have := map[string]bool{}
		for _, a := range got[i] {
			if a.Source != "ruled" {
				t.Errorf("case %q: alert %q from source %q", c.Name, a.Rule, a.Source)
			}
			have[a.Rule] = true
		}
		var missing, extra []string
		for _, r := range twins {
			switch {
			case hasFold(want, r):
			case c.Event.Evt.Type == eventType(t, cases, r):
				if !have[r] {
					silent[r]++
				}
			}
		}
		for r := range want {
			if !hasFold(have, r) {
				missing = append(missing, r)
			}
		}
		for r := range have {
			if !hasFold(want, r) {
				extra = append(extra, r)
			} else {
				fired[r]++
			}
		}
		if len(missing)+len(extra) == 0 {
			continue
		}
		sort.Strings(missing)
		sort.Strings(extra)
		msg := fmt.Sprintf("case %q (%s:%d): Falco did not fire %q, fired unexpectedly %q", c.Name, c.File, c.Line, missing, extra)
		if why, ok := knownDifferences[c.Name]; ok {
			t.Logf("%s: known difference: %s", msg, why)
			continue
		}
		t.Error(msg)
	}
	for _, r := range twins {
		if fired[r] == 0 {
			t.Errorf("rule %q never fired inside Falco", r)
		}
		if silent[r] == 0 {
			t.Errorf("rule %q has no near miss (a case of its event type it stayed silent on)", r)
		}
	}
	t.Logf("%d cases, %d alerts, %d rules", len(cases), len(res.Alerts), len(twins))
}

func hasFold(set map[string]bool, name string) bool {
	for k := range set {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// falcoRules lists the enabled rules of ruled_rules.yaml.
func falcoRules(t *testing.T, f *falcotest.Falco) []string {
	t.Helper()
	b, err := os.ReadFile(f.Path("plugin/falco/ruled_rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var items []struct {
		Rule    string `yaml:"rule"`
		Enabled *bool  `yaml:"enabled"`
	}
	if err := yaml.Unmarshal(b, &items); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		if it.Rule != "" && (it.Enabled == nil || *it.Enabled) {
			out = append(out, it.Rule)
		}
	}
	return out
}

// eventType is the evt.type of the first case expecting rule's ruled twin:
// the near misses of a rule are the other cases of that type.
func eventType(t *testing.T, cases []ruletest.Case, rule string) string {
	for _, c := range cases {
		for _, r := range c.Expect {
			if strings.EqualFold("Ruled "+r, rule) {
				return c.Event.Evt.Type
			}
		}
	}
	return ""
}

// forwardRules enables the shipped forwarding rule (off by default) and adds
// rules that test the ruled-side fields in conditions.
const forwardRules = `
- rule: Ruled rule matched
  enabled: true
  override:
    enabled: replace

- rule: Test ruled JVM match
  desc: ruled.rule, ruled.priority and ruled.output in a condition
  condition: >
    ruled.rule = "Shell spawned by JVM" and ruled.priority = Critical
    and ruled.output startswith "Shell spawned by a JVM" and ruled.tags intersects (T1059.004)
  output: "jvm %ruled.rule"
  priority: CRITICAL
  source: ruled
`

// TestRuledMatchesReachFalco runs the shipped snippet, whose init_config
// makes the plugin evaluate ruled's default pack, with the forwarding rule
// enabled: every case where ruled's rules match reaches Falco with
// ruled.rule, ruled.rules, ruled.priority and ruled.output, and no other.
func TestRuledMatchesReachFalco(t *testing.T) {
	f := falcotest.Require(t)
	cfg, doc := shipped(t, f, true)
	ic, ok := doc.Plugins[0]["init_config"].(map[string]any)
	if !ok || fmt.Sprint(ic["rules"]) != "[builtin]" {
		t.Fatalf("plugin/falco/falco.yaml: init_config rules are not [builtin]: %v", doc.Plugins[0]["init_config"])
	}
	cfg.Rules = forwardRules
	cases, events := packCases(t, f)
	res, err := f.Replay(t, cfg, events)
	if err != nil {
		t.Fatal(err)
	}
	got := byCase(t, cases, res.Alerts)
	jvm := 0
	for i, c := range cases {
		var fwd []falcotest.Alert
		for _, a := range got[i] {
			switch a.Rule {
			case "Ruled rule matched":
				fwd = append(fwd, a)
			case "Test ruled JVM match":
				jvm++
				if !slices.Contains(c.Expect, "Shell spawned by JVM") {
					t.Errorf("case %q: JVM test rule fired; expected ruled rules %q", c.Name, c.Expect)
				}
			}
		}
		if len(c.Expect) == 0 {
			if len(fwd) != 0 {
				t.Errorf("case %q: no ruled rule should match, Falco forwarded %q", c.Name, fwd[0].Output)
			}
			continue
		}
		if len(fwd) != 1 {
			t.Errorf("case %q: %d forwarded matches, want 1", c.Name, len(fwd))
			continue
		}
		of := fwd[0].OutputFields
		rule, _ := of["ruled.rule"].(string)
		if !slices.Contains(c.Expect, rule) {
			t.Errorf("case %q: ruled.rule %q, want one of %q", c.Name, rule, c.Expect)
		}
		if p, _ := of["ruled.priority"].(string); p == "" || !strings.Contains(fwd[0].Output, "priority="+p) {
			t.Errorf("case %q: ruled.priority %q not in the output %q", c.Name, p, fwd[0].Output)
		}
		if o, _ := of["ruled.output"].(string); o == "" || !strings.Contains(fwd[0].Output, "ruled: "+o) {
			t.Errorf("case %q: ruled.output %q not in the output %q", c.Name, o, fwd[0].Output)
		}
		all := fmt.Sprint(of["ruled.rules"])
		for _, r := range c.Expect {
			if !strings.Contains(all, r) {
				t.Errorf("case %q: ruled.rules %s lacks %q", c.Name, all, r)
			}
		}
	}
	if jvm == 0 {
		t.Error("the condition over ruled.rule, ruled.priority, ruled.output and ruled.tags never matched")
	}
}
