package audit

import "strconv"

// TypeName is the auditd log name of a record type ("SYSCALL"), or
// UNKNOWN[n] like auditd writes for types outside ruled's table.
func TypeName(t uint16) string {
	for name, n := range typeNames {
		if n == t {
			return name
		}
	}
	return "UNKNOWN[" + strconv.Itoa(int(t)) + "]"
}

// FormatLogLine writes a record as an auditd log line (without newline), the
// format of the testdata fixtures and of ParseLogLine.
func FormatLogLine(r Record) string {
	return "type=" + TypeName(r.Type) + " msg=" + string(r.Data)
}
