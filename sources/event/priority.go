package event

import (
	"fmt"
	"strings"
)

// Priority is Falco's rule priority; lower values are more severe, matching
// syslog severities (PriorityEmergency = 0 ... PriorityDebug = 7).
type Priority int

// Falco's eight priority levels.
const (
	PriorityEmergency Priority = iota
	PriorityAlert
	PriorityCritical
	PriorityError
	PriorityWarning
	PriorityNotice
	PriorityInformational
	PriorityDebug
)

var priorityNames = [...]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

// String returns Falco's spelling ("Critical").
func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return fmt.Sprintf("Priority(%d)", int(p))
	}
	return priorityNames[p]
}

// ParsePriority accepts Falco's level names in any case, plus INFO for
// Informational.
func ParsePriority(s string) (Priority, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if u == "INFO" {
		return PriorityInformational, nil
	}
	for i, n := range priorityNames {
		if strings.ToUpper(n) == u {
			return Priority(i), nil
		}
	}
	return 0, fmt.Errorf("unknown priority %q (want one of EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL, DEBUG)", s)
}

// MarshalText encodes the Falco spelling.
func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText decodes any spelling ParsePriority accepts.
func (p *Priority) UnmarshalText(b []byte) error {
	v, err := ParsePriority(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
