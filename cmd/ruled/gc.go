package main

import "runtime/debug"

// Collector settings unless the environment sets GOGC / GOMEMLIMIT.
//
// With the proc connector alone, an exec's executable and name are read
// from /proc as its message is received; every collection cycle delays
// that read for a few milliseconds (mark assists and stops on the receive
// thread), and a quick process is gone by then. At GOGC=100 about 1.7% of
// the execs of an exec storm lost their name this way, at 400 with this
// limit about 0.5% (BENCHMARKS.md, "Exec storm with the proc connector
// alone"). The soft memory limit keeps what the larger GOGC lets the heap
// grow to under the agent's RSS target (64 MiB with 10,000 processes: 53 MB
// measured; 48 MiB gave 61 MB): near it the collector runs as often as it
// must, so a host whose process table alone nears it should raise
// GOMEMLIMIT.
const (
	gcPercent   = 400
	memoryLimit = 42 << 20
)

// tuneGC applies the collector settings the environment leaves open and
// reports which it applied.
func tuneGC(getenv func(string) string) (percent, limit bool) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
		percent = true
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
		limit = true
	}
	return percent, limit
}
