package audit

import "testing"

// HostDir is what the installer checks before adding a rule on the host:
// the directory of a dir= filter, the parent of a path= one, none without.
func TestHostDir(t *testing.T) {
	rules, err := ParseRules(`-a always,exit -F arch=b64 -S openat -F dir=/root/.ssh -k a
-a always,exit -F arch=b64 -S openat -F path=/etc/ssh/key -k b
-a always,exit -F arch=b64 -S execve -k c
`, 0, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"/root/.ssh", "/etc/ssh", ""} {
		if got := rules[i].HostDir(); got != want {
			t.Errorf("rule %d (%s): HostDir %q, want %q", i+1, rules[i].Text, got, want)
		}
	}
}
