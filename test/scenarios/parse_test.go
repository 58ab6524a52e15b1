package scenarios

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseAlert(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantErr bool
		field   string
		want    string
		present bool
	}{
		{
			name:  "flat falco fields",
			line:  `{"time":"2026-11-22T21:00:00.5Z","rule":"Reverse shell","priority":"Critical","output":"x","output_fields":{"proc.name":"sh","proc.stdin.rport":4444,"container.id":"abc"},"source":"ruled","tags":["T1059"],"hostname":"h"}`,
			field: "proc.stdin.rport", want: "4444", present: true,
		},
		{
			name:  "nested fields",
			line:  `{"rule":"R","output_fields":{"proc":{"name":"cat","pid":12}}}`,
			field: "proc.pid", want: "12", present: true,
		},
		{
			name:  "absent field",
			line:  `{"rule":"R","output_fields":{"proc.name":"cat"}}`,
			field: "proc.pname", want: "", present: false,
		},
		{
			name:  "no output_fields",
			line:  `{"rule":"R"}`,
			field: "container.id", want: "", present: false,
		},
		{name: "not json", line: `ruled: agent not wired yet`, wantErr: true},
		{name: "json without rule", line: `{"output":"x"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseAlert([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			got, ok := a.field(tt.field)
			if got != tt.want || ok != tt.present {
				t.Errorf("field(%q) = %q, %v; want %q, %v", tt.field, got, ok, tt.want, tt.present)
			}
		})
	}
}

func FuzzParseAlert(f *testing.F) {
	f.Add([]byte(`{"rule":"R","output_fields":{"proc.name":"sh","fd.rport":3333}}`))
	f.Add([]byte(`{"rule":"R","output_fields":{"proc":{"stdin":{"rip":"127.0.0.1"}}}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAlert(b)
		if err != nil {
			return
		}
		for _, k := range []string{"proc.name", "proc.stdin.rip", "fd.rport", "container.id"} {
			_, _ = a.field(k)
		}
	})
}

func TestParseRuleItems(t *testing.T) {
	off := false
	tests := []struct {
		name    string
		yaml    string
		names   []string
		enabled []*bool
		wantErr bool
	}{
		{
			name:    "rules lists macros",
			yaml:    "- list: l\n  items: [a]\n- macro: m\n  condition: x\n- rule: A\n  condition: m\n- rule: B\n  enabled: false\n",
			names:   []string{"A", "B"},
			enabled: []*bool{nil, &off},
		},
		{name: "empty file", yaml: "", names: nil, enabled: nil},
		{name: "not a sequence", yaml: "rule: A\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names, en, err := parseRuleItems([]byte(tt.yaml))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !slices.Equal(names, tt.names) {
				t.Errorf("names = %q, want %q", names, tt.names)
			}
			if len(en) != len(tt.enabled) {
				t.Fatalf("enabled has %d entries, want %d", len(en), len(tt.enabled))
			}
			for i := range en {
				if (en[i] == nil) != (tt.enabled[i] == nil) || (en[i] != nil && *en[i] != *tt.enabled[i]) {
					t.Errorf("enabled[%d] mismatch", i)
				}
			}
		})
	}
}

// TestCatalogNamesDefaultRules keeps the catalog honest against the pack:
// every rule a scenario expects must exist in the default pack, so a rename
// there shows up here rather than as a silent "missed detection".
func TestCatalogNamesDefaultRules(t *testing.T) {
	rules, err := defaultRules(rulesDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		t.Fatal("no default rules found in " + rulesDir)
	}
	for _, sc := range scenarios {
		for _, w := range sc.want {
			if !slices.Contains(rules, w.rule) {
				t.Errorf("scenario %s expects %q, which is not a default rule", sc.name, w.rule)
			}
		}
		for _, r := range sc.twinOf {
			if !slices.Contains(rules, r) {
				t.Errorf("benign twin %s guards %q, which is not a default rule", sc.name, r)
			}
		}
	}
	for r := range notCoveredWhy {
		if !slices.Contains(rules, r) {
			t.Errorf("notCoveredWhy names %q, which is not a default rule", r)
		}
	}
}

func TestUnexpected(t *testing.T) {
	id := strings.Repeat("a", 64)
	other := strings.Repeat("b", 64)
	boxes := map[string]*box{
		"read-shadow": {name: prefix + "read-shadow-1", id: id},
		"exec-ls":     {name: prefix + "exec-ls-1", id: other},
	}
	mk := func(rule, cid, name, pid string) *alert {
		return &alert{Rule: rule, Fields: map[string]any{"container.id": cid, "container.name": name, "proc.pid": pid}, recv: time.Now()}
	}
	tests := []struct {
		name  string
		alert *alert
		want  string // substring of the single problem, "" for none
	}{
		{name: "expected", alert: mk("Read sensitive file untrusted", id, prefix+"read-shadow-1", "1")},
		{name: "unexpected rule", alert: mk("Write below etc", id, prefix+"read-shadow-1", "1"), want: "false positive: scenario read-shadow"},
		{name: "benign twin alerts", alert: mk("Terminal shell in container", other, prefix+"exec-ls-1", "1"), want: "false positive: scenario exec-ls"},
		{name: "name of one, id of another", alert: mk("Read sensitive file untrusted", other, prefix+"read-shadow-1", "1"), want: "misattributed"},
		{name: "our name, unknown id", alert: mk("Read sensitive file untrusted", strings.Repeat("c", 64), prefix+"gone-1", "1"), want: "misattributed"},
		{name: "warm-up is not judged", alert: mk("Launch Package Management Process in Container", strings.Repeat("d", 64), prefix+"warmup-1", "1")},
		{name: "host scenario pid", alert: mk("Read sensitive file untrusted", "host", "", "99"), want: "false positive: host scenario host-admin"},
		{name: "other host process", alert: mk("PTRACE attached to process", "host", "", "100")},
		{name: "someone else's container", alert: mk("Terminal shell in container", strings.Repeat("e", 64), "fx1", "1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unexpected([]*alert{tt.alert}, boxes, map[string]string{"99": "host-admin"})
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("problems %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0].msg, tt.want)):
				t.Errorf("problems %q, want one containing %q", got, tt.want)
			}
		})
	}
}

// BenchmarkParseAlert measures the collector's cost per alert line, so the
// suite's own reading never explains a latency figure in RESULTS.md.
func BenchmarkParseAlert(b *testing.B) {
	line := []byte(`{"hostname":"vm","output":"Reverse shell: sh has a network socket on stdin/stdout","priority":"Critical","rule":"Reverse shell","source":"ruled","tags":["host","container","T1059"],"time":"2026-11-22T21:55:38.324Z","output_fields":{"container.id":"0f6aefe83c01","container.name":"ruled-scn-netcat-rce-1","evt.type":"execve","proc.cmdline":"sh","proc.name":"sh","proc.pid":31959,"proc.pname":"nc","proc.stdin.rip":"127.0.0.1","proc.stdin.rport":4444}}`)
	b.ReportAllocs()
	for b.Loop() {
		a, err := parseAlert(line)
		if err != nil || a.get("proc.stdin.rport") != "4444" {
			b.Fatal("bad parse")
		}
	}
}
