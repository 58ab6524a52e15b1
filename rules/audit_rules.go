package rules

import _ "embed"

// AuditRules is the default kernel audit rule set (auditctl syntax) that the
// audit source installs when no rules file is configured.
//
//go:embed audit.rules
var AuditRules string
