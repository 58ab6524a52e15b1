package pipeline

import (
	"strings"
	"time"

	"github.com/ruled/ruled/sources/sensors/audit"
)

// relyMergeWindow is how long a proc connector exec waits for audit's
// record when the table relies on it: the record brings the executable
// and argv that were not read from /proc, so an exec released without it
// would have neither. Audit's records come within milliseconds; under an
// exec storm on a loaded host some took over 100 ms (the default window).
const relyMergeWindow = time.Second

// relyOnAuditExecs lets the process table leave to audit what its exec
// records carry (proctable.Table.SetAuditExecs) while audit is the audit
// daemon with ruled's rules and those report every exec, and reports
// the exec merge window to use (0: the default). In multicast mode the
// rules are the other daemon's, which may filter execs.
func (l *Pipeline) relyOnAuditExecs() time.Duration {
	if l.audit == nil || l.conn == nil || !coversExecs(l.audit.Rules()) {
		return 0
	}
	src := l.audit
	l.table.SetAuditExecs(func() bool { return src.Stats().Mode == audit.ModeUnicast })
	return relyMergeWindow
}

// coversExecs reports whether the rules report every exec, 64- and 32-bit:
// for each architecture an always,exit rule on execve whose only other
// filter is ruled's own pid.
func coversExecs(rules []audit.Rule) bool {
	arches := map[string]bool{}
	for _, r := range rules {
		if arch, ok := execRuleArch(r.Text); ok {
			arches[arch] = true
		}
	}
	return arches["b64"] && arches["b32"]
}

// execRuleArch parses one rule in auditctl syntax.
func execRuleArch(text string) (arch string, ok bool) {
	f := strings.Fields(text)
	action, execve := false, false
	for i := 0; i < len(f); i++ {
		if i+1 >= len(f) {
			return "", false
		}
		v := f[i+1]
		switch f[i] {
		case "-a", "-A":
			action = v == "always,exit" || v == "exit,always"
		case "-S":
			for _, s := range strings.Split(v, ",") {
				execve = execve || s == "execve"
			}
		case "-k":
		case "-F":
			switch {
			case strings.HasPrefix(v, "arch="):
				arch = strings.TrimPrefix(v, "arch=")
			case strings.HasPrefix(v, "pid!="), strings.HasPrefix(v, "key="):
			default:
				return "", false
			}
		default:
			return "", false
		}
		i++
	}
	return arch, action && execve && arch != ""
}
