package audit

import (
	"os/exec"
	"strings"
	"testing"
)

// auditState is what `auditctl -s` and `auditctl -l` say.
type auditState struct {
	status map[string]string
	rules  []string
}

func auditctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("auditctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("auditctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readState(t *testing.T) auditState {
	t.Helper()
	st := auditState{status: map[string]string{}}
	for _, line := range strings.Split(auditctl(t, "-s"), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			st.status[k] = v
		}
	}
	for _, line := range strings.Split(auditctl(t, "-l"), "\n") {
		if line = strings.TrimSpace(line); line != "" && line != "No rules" {
			st.rules = append(st.rules, line)
		}
	}
	return st
}

// compared are the status fields ruled may change and must put back.
var compared = []string{"enabled", "pid", "backlog_limit", "backlog_wait_time"}

func (a auditState) diff(b auditState) []string {
	var d []string
	for _, k := range compared {
		if a.status[k] != b.status[k] {
			d = append(d, k+": "+a.status[k]+" -> "+b.status[k])
		}
	}
	if strings.Join(a.rules, "\n") != strings.Join(b.rules, "\n") {
		d = append(d, "rules:\n"+strings.Join(a.rules, "\n")+"\n->\n"+strings.Join(b.rules, "\n"))
	}
	return d
}

// saveAudit records the audit state and restores it when the test ends,
// whatever happened: rules added since are deleted, and the enabled flag and
// backlog settings are set back. The daemon pid cannot be set to another
// process; it is released by the source itself (or by stopping auditd).
func saveAudit(t *testing.T) auditState {
	t.Helper()
	before := readState(t)
	t.Cleanup(func() {
		now := readState(t)
		had := map[string]bool{}
		for _, r := range before.rules {
			had[r] = true
		}
		for _, r := range now.rules {
			if !had[r] && strings.HasPrefix(r, "-a ") {
				args := strings.Fields("-d " + strings.TrimPrefix(r, "-a "))
				if out, err := exec.Command("auditctl", args...).CombinedOutput(); err != nil {
					t.Errorf("restore: delete rule %q: %v %s", r, err, out)
				}
			}
		}
		for _, kv := range [][2]string{{"-e", "enabled"}, {"-b", "backlog_limit"}, {"--backlog_wait_time", "backlog_wait_time"}} {
			if before.status[kv[1]] != now.status[kv[1]] && before.status[kv[1]] != "" {
				if out, err := exec.Command("auditctl", kv[0], before.status[kv[1]]).CombinedOutput(); err != nil {
					t.Errorf("restore %s: %v %s", kv[1], err, out)
				}
			}
		}
		if d := before.diff(readState(t)); len(d) > 0 {
			t.Errorf("audit state not restored: %s", strings.Join(d, "; "))
		}
	})
	return before
}
