package main

import (
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/ruled/ruled/sources/pipeline"
)

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

// tuneProcs runs the agent's Go code on one CPU fewer than the machine
// has (at least one) when its sources are the proc connector alone, unless
// the environment sets GOMAXPROCS; it reports the setting it applied, 0 for
// none. Measured on 2 CPUs in a 6,000-exec storm (BENCHMARKS.md, issue 15,
// fifth pass): the event path on 2 Ps cost ~10 µs more CPU per exec with
// the proc connector alone than on 1 (the Go scheduler waking an idle P
// for each hand-off between its stages), at the same exec->report p99
// (6-7 ms). With both sources it cost ~18 µs more, and bought a p99 of 4
// ms instead of 11-14 and something that matters more: the path must also
// add a starting container's file watches before runc runs its first
// process: on one P it lost that race for 1-3 of 50 containers started
// together in 2 bursts of 11 (TestNoBlindStart), on two in none of 7.
func tuneProcs(getenv func(string) string, sources []string) int {
	if getenv("GOMAXPROCS") != "" || len(sources) == 0 || slices.Contains(sources, pipeline.Audit) {
		return 0
	}
	n := max(1, runtime.NumCPU()-1)
	runtime.GOMAXPROCS(n)
	return n
}
