package pipeline

import (
	"testing"

	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/sensors/audit"
)

func TestCoversExecs(t *testing.T) {
	mk := func(texts ...string) []audit.Rule {
		var out []audit.Rule
		for _, s := range texts {
			out = append(out, audit.Rule{Text: s})
		}
		return out
	}
	b64 := "-a always,exit -F arch=b64 -S execve,execveat -k exec -F pid!=42"
	b32 := "-a always,exit -F arch=b32 -S execve,execveat -k exec -F pid!=42"
	tests := []struct {
		name  string
		rules []audit.Rule
		want  bool
	}{
		{"both arches", mk(b64, b32), true},
		{"64-bit only", mk(b64), false},
		{"filtered by uid", mk(b64, "-a always,exit -F arch=b32 -S execve -F uid=0 -k exec"), false},
		{"never action", mk(b64, "-a never,exit -F arch=b32 -S execve"), false},
		{"other syscall", mk(b64, "-a always,exit -F arch=b32 -S connect -k net"), false},
		{"no rules", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coversExecs(tt.rules); got != tt.want {
				t.Errorf("got %v want %v", got, tt.want)
			}
		})
	}
}

// The shipped audit rules report every exec, so the table may rely on them.
func TestDefaultRulesCoverExecs(t *testing.T) {
	rs, err := audit.ParseRules(rules.AuditRules, 42, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if !coversExecs(rs) {
		t.Error("the default audit rules do not cover every exec")
	}
}
