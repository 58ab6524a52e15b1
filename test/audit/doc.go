// Package audit holds the end-to-end tests of the kernel audit source and of
// audit-log replay on the real kernel, as root: unicast (ruled is the audit
// daemon), multicast next to Debian's auditd, the audit state after shutdown,
// and the replay of the log auditd wrote. Every test saves the audit state
// (status and rule list) first and restores it in t.Cleanup, even on failure.
package audit
