package falco

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ruled/ruled/test/falco/falcotest"
)

var fieldsDocRow = regexp.MustCompile("(?m)^\\| `(ruled\\.[a-z0-9_.]+)(\\[KEY\\])?` \\|")

// TestListFields: falco --list=ruled names every field of plugin/FIELDS.md.
func TestListFields(t *testing.T) {
	f := falcotest.Require(t)
	doc, err := os.ReadFile(f.Path("plugin/FIELDS.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := fieldsDocRow.FindAllStringSubmatch(string(doc), -1)
	if len(rows) < 50 {
		t.Fatalf("plugin/FIELDS.md: only %d field rows", len(rows))
	}
	out, err := f.Command(t, falcotest.Config{}, "--list=ruled").CombinedOutput()
	if err != nil {
		t.Fatalf("falco --list=ruled: %v\n%s", err, out)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, ok := strings.Cut(line, " "); ok && strings.HasPrefix(name, "ruled.") {
			listed[name] = true
		}
	}
	for _, r := range rows {
		if !listed[r[1]] {
			t.Errorf("falco --list=ruled does not list %s", r[1])
		}
	}
	if len(listed) != len(rows) {
		t.Errorf("falco lists %d ruled fields, plugin/FIELDS.md documents %d", len(listed), len(rows))
	}
}

// TestPluginInfo: falco --plugin-info ruled shows the identity and the init
// schema with every key.
func TestPluginInfo(t *testing.T) {
	f := falcotest.Require(t)
	out, err := f.Command(t, falcotest.Config{}, "--plugin-info", "ruled").CombinedOutput()
	if err != nil {
		t.Fatalf("falco --plugin-info ruled: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Name: ruled", "Event Sourcing (ID=20261, source='ruled')", "Field Extraction",
		"Init config schema type: JSON", `"rules"`, `"sources"`, `"audit_mode"`, `"rate_limit"`, `"log_level"`,
		"replay:/path/events.jsonl",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("falco --plugin-info ruled lacks %q:\n%s", want, out)
		}
	}
}

// TestInitConfig: Falco refuses a bad init_config with its schema message
// naming the key, and the plugin's own check names what the schema cannot
// (a rules file that does not exist); an empty map, an empty string and
// the shipped map start.
func TestInitConfig(t *testing.T) {
	f := falcotest.Require(t)
	events := []byte(`{"evt":{"type":"execve","time":"2026-01-02T03:04:05Z","source":"replay","success":true},"proc":{"pid":1,"name":"sh"},"container":{"id":"host"}}` + "\n")
	rule := "- rule: any\n  desc: any\n  condition: ruled.evt.type = execve\n  output: \"%ruled.proc.name\"\n  priority: INFO\n  source: ruled\n"
	bad := []struct {
		name string
		ic   any
		want []string
	}{
		{"unknown key", map[string]any{"audit_mod": "multicast"}, []string{"error in plugin ruled init config", "'audit_mod'"}},
		{"bad enum", map[string]any{"audit_mode": "both"}, []string{"error in plugin ruled init config", "[audit_mode]"}},
		{"negative rate", map[string]any{"rate_limit": -1}, []string{"error in plugin ruled init config", "[rate_limit]"}},
		{"json string", `{"log_levl":"debug"}`, []string{"error in plugin ruled init config", "'log_levl'"}},
		{"missing rules file", map[string]any{"rules": []string{"/nonexistent/ruled.yaml"}}, []string{"could not initialize plugin", "/nonexistent/ruled.yaml"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			res, err := f.Replay(t, falcotest.Config{Rules: rule, InitConfig: tt.ic}, events)
			if err == nil {
				t.Fatalf("Falco accepted init_config %v; alerts %d", tt.ic, len(res.Alerts))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Falco's refusal lacks %q:\n%v", w, err)
				}
			}
		})
	}
	good := []struct {
		name string
		ic   any
	}{
		{"empty map", map[string]any{}},
		{"empty string", ""},
		{"empty json object", "{}"},
		{"full map", map[string]any{"rules": []string{"builtin"}, "sources": "procconn", "audit_mode": "multicast", "rate_limit": 0, "log_level": "warn"}},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			res, err := f.Replay(t, falcotest.Config{Rules: rule, InitConfig: tt.ic}, events)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Alerts) != 1 || res.Alerts[0].OutputFields["ruled.proc.name"] != "sh" {
				t.Errorf("alerts %+v, want one for sh", res.Alerts)
			}
		})
	}
}
