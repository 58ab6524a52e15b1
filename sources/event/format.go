package event

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// FormatValue renders a field value the way output templates print it:
// strings as is, lists joined by commas, maps as k=v pairs in key order,
// times in RFC 3339 with nanoseconds, and <NA> for nil (an unknown value,
// see Field.OutputValue) and for an empty string, as Falco does, so a reader
// can tell "unknown" from a blank.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "<NA>"
	case string:
		if x == "" {
			return "<NA>"
		}
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []string:
		return strings.Join(x, ",")
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(x[k])
		}
		return b.String()
	}
	return ""
}

// zeroUnknownInts are the integer fields whose zero is never a real value
// in an event: no process event has pid 0, no socket port 0, no namespace
// inode 0. A parent pid of 0 is real only for pid 1 and kthreadd, whose
// events ruled does not see.
var zeroUnknownInts = map[string]bool{
	"proc.pid": true, "proc.tid": true, "proc.ppid": true, "proc.vpid": true,
	"ns.pid": true, "ns.net": true, "ns.mnt": true,
	"fd.sport": true, "fd.rport": true,
	"proc.stdin.sport": true, "proc.stdin.rport": true,
	"proc.stdout.sport": true, "proc.stdout.rport": true,
	"proc.stderr.sport": true, "proc.stderr.rport": true,
}

// Unknown tells whether ev does not know f. Events carry an unknown value
// as its zero (the README's field table), so this is the zero of a string, list, map or
// time, and of the integers in zeroUnknownInts. A uid, gid or euid of 0 is
// unknown when proc.user is empty too: whenever ruled knows a uid of 0 it
// also names the user (root in every container and in the host's passwd),
// so 0 without a name is an id no source reported (a proc connector exec of
// a process already gone, a replayed event without ids), not root. Booleans
// are never unknown: false is what ruled reports when it saw nothing.
func (f *Field) Unknown(ev *Event) bool {
	switch f.Kind {
	case KindBool:
		return false
	case KindInt:
		if *f.Ptr(ev).(*int) != 0 {
			return false
		}
		switch f.Name {
		case "proc.uid", "proc.gid", "proc.euid":
			return ev.Proc.User == ""
		}
		return zeroUnknownInts[f.Name]
	case KindString:
		return *f.Ptr(ev).(*string) == ""
	case KindStrings:
		return len(*f.Ptr(ev).(*[]string)) == 0
	case KindMap:
		return len(*f.Ptr(ev).(*map[string]string)) == 0
	case KindTime:
		return f.Ptr(ev).(*time.Time).IsZero()
	}
	return false
}

// OutputValue is the field's value for an alert's output_fields: nil when
// ev does not know it (Falco's null, printed <NA>), else Value.
func (f *Field) OutputValue(ev *Event) any {
	if f.Unknown(ev) {
		return nil
	}
	return f.Value(ev)
}
