// Package proctable keeps the table of every process on the host that all
// sources share: seeded from a /proc snapshot at start, kept current by
// fork/exec/exit events (proc connector and audit), and used to enrich every
// event with parent, ancestry, executable, arguments, ids, namespaces,
// standard descriptors and the container id.
//
// Observe and Enrich run on the event path (one pipeline goroutine); readers
// such as `ruled ps` may call Get and Processes concurrently. Enrich of a
// known process is a map lookup and copies: /proc is read in Observe, when
// a process is first seen or execs, while it most likely still exists.
//
// Merger (merge.go) folds the proc connector's and audit's reports of one
// exec into one execve event.
package proctable
