// Package audit is ruled's kernel audit source. It talks to the kernel over
// the NETLINK_AUDIT socket (linux/audit.h), sending commands with go-libaudit
// and reading records in recvmmsg batches of its own: as the audit daemon
// (unicast) or, next to auditd, as a reader of the read-only multicast group. It installs audit rules written in auditctl syntax, reassembles the
// records of one syscall by their sequence number and turns them into
// event.Event values.
//
// Everything after the bytes is pure and shared with sources/sensors/replay: record
// lines are parsed by ParseRecord / ParseLogLine, grouped by Reassembler and
// normalized by Normalize. go-libaudit's own coalescing is not used on the
// event path because it costs ~170 µs per exec, more than ruled's budget.
package audit
