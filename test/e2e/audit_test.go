package e2e

import (
	"slices"
	"strings"
	"testing"
)

func TestAuditState(t *testing.T) {
	status := "enabled 1\nfailure 1\npid 4242\nrate_limit 0\nbacklog_limit 8192\nlost 17\nbacklog 3\nbacklog_wait_time 15000\nbacklog_wait_time_actual 0\nloginuid_immutable 0 unlocked\n"
	got := ParseAuditStatus(status)
	want := map[string]string{"enabled": "1", "failure": "1", "pid": "4242", "rate_limit": "0", "backlog_limit": "8192", "backlog_wait_time": "15000"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["lost"]; ok {
		t.Error("lost is a counter, not state")
	}

	tests := []struct {
		name   string
		before AuditState
		after  AuditState
		want   []string
	}{
		{
			name:   "unchanged",
			before: AuditState{Rules: ParseAuditRules("No rules\n"), Settings: want},
			after:  AuditState{Settings: want},
		},
		{
			name:   "rule left and enabled changed",
			before: AuditState{Settings: map[string]string{"enabled": "0"}},
			after: AuditState{
				Rules:    ParseAuditRules("-a always,exit -F arch=b64 -S execve -F pid!=7 -F key=exec\n"),
				Settings: map[string]string{"enabled": "1"},
			},
			want: []string{`enabled: was "0", now "1"`, "rule left behind: -a always,exit -F arch=b64 -S execve -F pid!=7 -F key=exec"},
		},
		{
			name:   "rule removed",
			before: AuditState{Rules: []string{"-w /etc/passwd -p wa"}},
			after:  AuditState{},
			want:   []string{"rule removed: -w /etc/passwd -p wa"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.before.Diff(tt.after); !slices.Equal(got, tt.want) {
				t.Errorf("diff = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDeleteArgs(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want string
		ok   bool
	}{
		{name: "syscall rule", rule: "-a always,exit -F arch=b64 -S connect -F key=net_connect", want: "-d always,exit -F arch=b64 -S connect -F key=net_connect", ok: true},
		{name: "watch", rule: "-w /etc/shadow -p r -k cred", want: "-W /etc/shadow -p r -k cred", ok: true},
		{name: "unknown", rule: "-e 1", ok: false},
		{name: "empty", rule: "", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := DeleteArgs(tt.rule)
			if ok != tt.ok || strings.Join(got, " ") != tt.want {
				t.Errorf("DeleteArgs(%q) = %q, %v; want %q, %v", tt.rule, got, ok, tt.want, tt.ok)
			}
		})
	}
}
