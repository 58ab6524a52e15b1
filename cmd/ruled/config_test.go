package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfigExample(t *testing.T) {
	b, err := os.ReadFile("../../ruled.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseConfig(b, "ruled.example.yaml")
	if err != nil {
		t.Fatalf("the shipped example must load: %v", err)
	}
	if len(c.Outputs) == 0 || c.Audit.BacklogWait != 100*time.Millisecond || c.Audit.BacklogLimit != 8192 {
		t.Errorf("example decoded wrong: %+v", c)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unknown key", "rules: [builtin]\nsorces: [audit]\n", "c.yaml: line 2: field sorces not found"},
		{"unknown nested key", "audit:\n  mode: auto\n  backlog: 5\n", "line 3: field backlog not found"},
		{"bad source", "sources: [audit, ebpf]\n", `unknown source "ebpf"`},
		{"bad duration", "drain_timeout: soon\n", "line 1"},
		{"bad response action", "responses:\n  - name: r\n    rules: [x]\n    actions: [pause, nuke]\n", `c.yaml: responses: line 2: response "r": unknown action "nuke"`},
		{"unknown response key", "responses:\n  - name: r\n    rule: [x]\n", `line 3: response: unknown key "rule"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tt.in), "c.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want error containing %q", err, tt.want)
			}
		})
	}
	if c, err := parseConfig(nil, "empty.yaml"); err != nil || c == nil {
		t.Errorf("empty config: %v", err)
	}
}

// The config file's outputs, rules and priorities drive the agent as the
// flags do; a flag given replaces the file's list.
func TestAgentConfigFile(t *testing.T) {
	dir := t.TempDir()
	alerts := filepath.Join(dir, "alerts.jsonl")
	cfg := filepath.Join(dir, "ruled.yaml")
	if err := os.WriteFile(cfg, []byte(`rules: [builtin]
log_level: warn
outputs:
  - output: file:`+alerts+`
    min_priority: critical
  - json
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "-config", cfg, "-replay", td+"events.jsonl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"rule":"Shell spawned by JVM"`) {
		t.Errorf("json output on stdout: %q", stdout)
	}
	b, err := os.ReadFile(alerts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"rule":"Shell spawned by JVM"`) || !strings.Contains(string(b), `"priority":"Critical"`) {
		t.Errorf("file output: %q", b)
	}
	if fi, err := os.Stat(alerts); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("alerts file mode: %v %v", fi.Mode(), err)
	}

	// -output replaces the file's outputs.
	if err := os.Remove(alerts); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run(t, "-config", cfg, "-replay", td+"events.jsonl", "-output", "stdout")
	if code != 0 || strings.Contains(stdout, `"rule"`) || !strings.Contains(stdout, "Shell spawned by JVM") {
		t.Errorf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	if _, err := os.Stat(alerts); !os.IsNotExist(err) {
		t.Errorf("file output used although -output replaced it: %v", err)
	}

	// A bad config is an error naming the file and line.
	if err := os.WriteFile(cfg, []byte("outputs:\n  - output: file:/x\n    min_prio: error\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, "-config", cfg, "-replay", td+"events.jsonl")
	if code != 1 || !strings.Contains(stderr, cfg) || !strings.Contains(stderr, "line 3") {
		t.Errorf("bad config: exit %d stderr %q", code, stderr)
	}
}
