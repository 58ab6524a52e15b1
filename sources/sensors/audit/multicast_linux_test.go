package audit

import (
	"strings"
	"testing"
)

func TestMulticastStarted(t *testing.T) {
	tests := []struct {
		name       string
		configured string
		daemon     bool
		pid        uint32
		want, not  string
	}{
		{"beside auditd", ModeAuto, true, 812, "an audit daemon (pid 812) holds the audit role", "no audit daemon"},
		{"forced, no daemon", ModeMulticast, false, 0, "audit_mode multicast and no audit daemon is running", "daemon (pid"},
		{"forced, daemon died", ModeMulticast, false, 4242, "registered audit daemon (pid 4242) is gone", "holds the audit role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := multicastStarted(tt.configured, tt.daemon, tt.pid)
			if !strings.Contains(got, tt.want) || strings.Contains(got, tt.not) {
				t.Errorf("multicastStarted = %q, want %q and not %q", got, tt.want, tt.not)
			}
		})
	}
}
