package main

import (
	"os"
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
