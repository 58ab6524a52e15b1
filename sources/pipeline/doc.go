// Package pipeline owns ruled's event path, from the kernel sensors (the
// audit source and the proc connector) or an offline replay, through the
// order barrier (a process's fork before audit's reports of it), the
// shared process table and the exec merge, enrichment (containers,
// network-namespace sockets) and the wait for a new container's runtime
// metadata, to the engine and the alerts. The agent, `ruled events` and the
// Falco plugin all run it (the last two end it at a sink before the
// engine), so the three see identical events. ARCHITECTURE.md draws the
// stages, their goroutines, locks and queue bounds.
package pipeline
