// Package replay is the offline source: it reads an auditd log
// (/var/log/audit/audit.log, raw or ENRICHED format) or JSON lines of events
// (the `ruled events` / -replay format) and emits the events, detecting the
// format from the first non-blank line. Audit logs go through the same
// reassembly and normalization as the live audit source (sources/sensors/audit);
// JSON events are emitted exactly as recorded, never re-enriched.
package replay
