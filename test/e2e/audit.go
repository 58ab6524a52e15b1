package e2e

import (
	"bufio"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// AuditState is what ruled must leave as it found: the rule list and the
// kernel's audit settings (not the counters lost/backlog, which move).
type AuditState struct {
	Rules    []string
	Settings map[string]string
}

// AuditSettingKeys are the `auditctl -s` lines that are configuration.
var AuditSettingKeys = []string{"enabled", "failure", "pid", "rate_limit", "backlog_limit", "backlog_wait_time"}

// ParseAuditStatus reads `auditctl -s` output ("key value" lines).
func ParseAuditStatus(out string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && slices.Contains(AuditSettingKeys, f[0]) {
			m[f[0]] = f[1]
		}
	}
	return m
}

// ParseAuditRules reads `auditctl -l` output; "No rules" is the empty list.
func ParseAuditRules(out string) []string {
	var rules []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l == "No rules" {
			continue
		}
		rules = append(rules, l)
	}
	return rules
}

func ReadAuditState(t testing.TB) AuditState {
	t.Helper()
	l, err := exec.Command("auditctl", "-l").CombinedOutput()
	if err != nil {
		t.Fatalf("auditctl -l: %v: %s", err, l)
	}
	s, err := exec.Command("auditctl", "-s").CombinedOutput()
	if err != nil {
		t.Fatalf("auditctl -s: %v: %s", err, s)
	}
	return AuditState{Rules: ParseAuditRules(string(l)), Settings: ParseAuditStatus(string(s))}
}

// diff describes how after differs from before; empty when equal.
func (before AuditState) Diff(after AuditState) []string {
	var d []string
	for _, k := range AuditSettingKeys {
		if before.Settings[k] != after.Settings[k] {
			d = append(d, fmt.Sprintf("%s: was %q, now %q", k, before.Settings[k], after.Settings[k]))
		}
	}
	for _, r := range after.Rules {
		if !slices.Contains(before.Rules, r) {
			d = append(d, "rule left behind: "+r)
		}
	}
	for _, r := range before.Rules {
		if !slices.Contains(after.Rules, r) {
			d = append(d, "rule removed: "+r)
		}
	}
	return d
}

// DeleteArgs turns an `auditctl -l` line into the auditctl arguments that
// delete it ("-a always,exit ..." -> "-d always,exit ...").
func DeleteArgs(rule string) ([]string, bool) {
	f := strings.Fields(rule)
	if len(f) < 2 {
		return nil, false
	}
	switch f[0] {
	case "-a", "-A":
		f[0] = "-d"
	case "-w":
		f[0] = "-W"
	default:
		return nil, false
	}
	return f, true
}

// restore puts back what ruled left changed, so a failing run does not
// leave audit rules or settings for the tests after it. Only the rules that
// appeared since before are deleted: other rules are not ours to touch.
func (before AuditState) Restore(t testing.TB, after AuditState) {
	t.Helper()
	for _, r := range after.Rules {
		if slices.Contains(before.Rules, r) {
			continue
		}
		if args, ok := DeleteArgs(r); ok {
			if out, err := exec.Command("auditctl", args...).CombinedOutput(); err != nil {
				t.Logf("restore: auditctl %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
	}
	flags := map[string]string{"enabled": "-e", "failure": "-f", "rate_limit": "-r", "backlog_limit": "-b", "backlog_wait_time": "--backlog_wait_time"}
	for k, flag := range flags {
		v, ok := before.Settings[k]
		if !ok || v == after.Settings[k] {
			continue
		}
		if out, err := exec.Command("auditctl", flag, v).CombinedOutput(); err != nil {
			t.Logf("restore: auditctl %s %s: %v: %s", flag, v, err, out)
		}
	}
}

// SaveAudit records the audit state and puts it back when the test ends,
// whatever an agent left: it first gives a killed agent's guardian a
// moment to restore, then restores what is still different itself. It
// fails the test at once when an audit daemon holds the role, since the
// agent tests need it free (test/setup.sh stops auditd).
func SaveAudit(t testing.TB) AuditState {
	t.Helper()
	before := ReadAuditState(t)
	if before.Settings["pid"] != "0" {
		t.Fatalf("an audit daemon (pid %s) is running; these tests need the role free (test/setup.sh stops auditd)", before.Settings["pid"])
	}
	t.Cleanup(func() {
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if len(before.Diff(ReadAuditState(t))) == 0 {
				return
			}
		}
		before.Restore(t, ReadAuditState(t))
	})
	return before
}
