package procconn

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// DefaultReadBuffer is the socket receive buffer asked for: the default
// (~270 events, ~25 ms at this machine's fork+exec ceiling) loses events
// under a burst; 16 MiB holds ~20k.
const DefaultReadBuffer = 16 << 20

// Config configures a Source.
type Config struct {
	// Logger receives start-up, loss and shutdown messages; nil discards.
	Logger *slog.Logger
	// ReadBuffer is the socket receive buffer in bytes; 0 means
	// DefaultReadBuffer.
	ReadBuffer int
	// Resync is called after the socket overflowed (ENOBUFS), from a
	// goroutine of the source, at most once per ResyncEvery: it should
	// re-read /proc so the process table catches up with what was lost
	// (proctable.Table.Resync). nil disables it.
	Resync func()
	// ResyncEvery bounds how often Resync runs; 0 means one second.
	ResyncEvery time.Duration
	// ContainerOf, when set, gets the bytes of each exec's
	// /proc/PID/cgroup, read as the message is received, and returns the
	// container id (container.Resolver.ContainerIDOf), before the event
	// waits in any queue: a docker exec'd command that is gone by the time
	// its events are enriched would otherwise inherit runc's "host". The
	// id is a clue the process table weighs (container.Clues.Exec), not
	// the decision. The read costs ~10 µs per exec (20-27 µs during an
	// exec storm on a cgroup v1 host), so it is skipped for a process in
	// the host's mount namespace (HostMountNS).
	ContainerOf func(cgroup []byte) string
	// HostMountNS, when not 0, is the inode of the host's mount namespace
	// (init's; procfs.HostMountNS, proctable.Table.InitMountNS). Each
	// exec's mount namespace is then read at receive (~10 µs through a
	// pidfd) and carried on the event (ns.mnt), and its cgroup is read
	// only when the namespace is
	// another (or could not be read): every container runtime gives a
	// container's processes a mount namespace of their own, and the
	// process table decides the id of one in the host's from its kin
	// (container.Clues.HostMount).
	HostMountNS uint64
	// ReadExec reads each exec's /proc/PID/exe, stat and cmdline as it is
	// received (a few µs each), so proc.exe, proc.name and the argv
	// survive a process that is gone before the event is enriched (the
	// proc connector alone, or audit's records of the exec lost). The
	// event also carries stat's session and terminal (proc.sid, proc.tty),
	// so the process table need not read stat again.
	ReadExec bool
	// ExecFromAudit, when set, is asked at each exec (with ReadExec):
	// true means audit's record of the exec will carry its executable,
	// name and argv (proctable.Table.AuditBringsExecs), so only the cgroup
	// is read at receive (~20 µs less per exec). An exec whose audit
	// record the kernel then drops has no executable; audit counts the
	// loss.
	ExecFromAudit func() bool
	// ExecReader, when set, is the path of a program whose main calls
	// ServeExecReader first (the agent's own, /proc/self/exe): with
	// ReadExec or ContainerOf, each exec is read at receive by exec
	// reader processes started from it (execproc_linux.go), which no
	// garbage collection or stalled CPU of this process holds up. Empty,
	// or when they cannot start, the readers are threads of this process.
	ExecReader string
	// Drained, when set, lets the event path ask for a barrier (Sync): it
	// is called with the generation Sync was given, on the goroutine that
	// calls emit, after emit was called for every message the main socket
	// held when the request was taken up. Like emit, it may block.
	Drained func(gen uint64)
}

// Stats are the source's counters.
type Stats struct {
	Received  uint64 // proc connector messages read
	Lost      uint64 // events the kernel dropped for this socket (per-CPU sequence gaps)
	Overruns  uint64 // ENOBUFS errors (socket buffer overflows)
	Emitted   uint64 // events passed to emit
	Threads   uint64 // thread fork/exit/uid/comm folded into their process
	Malformed uint64 // messages that failed to parse
	Resyncs   uint64 // /proc resynchronizations after a loss
	// ExecIncomplete counts execs (with Config.ReadExec) whose process was
	// gone before its exe or comm could be read at receive.
	ExecIncomplete uint64
	// ExecReadLate counts execs whose reads at exec the exec readers had
	// not done when the main reader came to them (it read them itself,
	// later); PrefetchOverruns the exec-only socket's overflows and the
	// batches an exec reader process dropped for a full ring.
	ExecReadLate, PrefetchOverruns uint64
	// HostExecs counts execs in the host's mount namespace that the
	// kernel's filter kept from the exec readers (audit brought what a
	// reader would have read).
	HostExecs uint64
	// ExecsCaptured counts host execs whose exe, comm and argv the
	// kernel's capturing program took (no exec reader read them).
	ExecsCaptured uint64
	// Syncs counts the drains the event path asked for (Sync) and the main
	// reader answered with a Drained call.
	Syncs  uint64
	ByType map[string]uint64 // messages received by proc_event kind
}

// Source reads the proc connector. Create it with New; Run it once.
type Source struct {
	cfg Config
	log *slog.Logger

	received, lost, overruns, emitted, threads, malformed, resyncs, execIncomplete atomic.Uint64
	execReadLate, prefetchOverruns, syncs, hostExecs, execsCaptured                atomic.Uint64
	byType                                                                         [12]atomic.Uint64

	// The barrier (Sync): the newest generation asked for; whether the
	// main reader runs and can answer; whether a wake-up is on its way
	// (so a burst of requests wakes the reader once); the wake-up itself
	// (ends the reader's wait in the socket, set by the reader) and the
	// token that ends its coalescing pause.
	syncReq     atomic.Uint64
	syncable    atomic.Bool
	wakePending atomic.Bool
	wakeRead    atomic.Pointer[func()]
	wakePause   chan struct{}
}

// New returns a proc connector source.
func New(cfg Config) *Source {
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	if cfg.ResyncEvery <= 0 {
		cfg.ResyncEvery = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, log: log, wakePause: make(chan struct{}, 1)}
}

// Sync asks the main reader for a barrier: to read, without waiting, every
// message its socket holds now, hand their events to emit, and then call
// Config.Drained(gen). gen must grow with each call; requests made before
// the reader takes them up are answered by one drain, with the newest gen.
// Sync never blocks. It reports false when no answer will come: the
// source has no Drained, or its main reader is not running.
//
// The kernel queues a process's fork message on every listening socket
// inside fork itself, before the child can run, so once anything the child
// did was seen elsewhere (in an audit record), its fork is in this socket,
// already read, or lost to an overflow (counted): after the barrier the
// event path has it, or never will.
func (s *Source) Sync(gen uint64) bool {
	if s.cfg.Drained == nil || !s.syncable.Load() {
		return false
	}
	for {
		old := s.syncReq.Load()
		if old >= gen || s.syncReq.CompareAndSwap(old, gen) {
			break
		}
	}
	if !s.wakePending.Swap(true) {
		select {
		case s.wakePause <- struct{}{}:
		default:
		}
		if w := s.wakeRead.Load(); w != nil {
			(*w)()
		}
	}
	return true
}

// Name is the evt.source value of the events.
func (s *Source) Name() string { return "procconn" }

var typeSlots = []What{
	WhatNone, WhatFork, WhatExec, WhatUID, WhatGID, WhatSID, WhatPtrace,
	WhatComm, WhatNonzeroExit, WhatCoredump, WhatExit,
}

func slotOf(w What) int {
	for i, t := range typeSlots {
		if t == w {
			return i
		}
	}
	return len(typeSlots) // unknown
}

// Stats returns the current counters; safe to call while Run runs.
func (s *Source) Stats() Stats {
	st := Stats{
		Received:         s.received.Load(),
		Lost:             s.lost.Load(),
		Overruns:         s.overruns.Load(),
		Emitted:          s.emitted.Load(),
		Threads:          s.threads.Load(),
		Malformed:        s.malformed.Load(),
		Resyncs:          s.resyncs.Load(),
		ExecIncomplete:   s.execIncomplete.Load(),
		ExecReadLate:     s.execReadLate.Load(),
		PrefetchOverruns: s.prefetchOverruns.Load(),
		Syncs:            s.syncs.Load(),
		HostExecs:        s.hostExecs.Load(),
		ExecsCaptured:    s.execsCaptured.Load(),
		ByType:           map[string]uint64{},
	}
	for i := range s.byType {
		n := s.byType[i].Load()
		if n == 0 {
			continue
		}
		name := "unknown"
		if i < len(typeSlots) {
			name = typeSlots[i].String()
		}
		st.ByType[name] = n
	}
	return st
}

// seqTracker counts per-CPU sequence gaps: the kernel numbers proc events
// with a per-CPU counter (cn_proc.c send_msg), so a jump on one CPU is the
// number of events this socket did not get.
type seqTracker struct {
	last map[uint32]uint32
}

// observe returns how many events were missed before seq on cpu.
func (t *seqTracker) observe(cpu, seq uint32) uint64 {
	if t.last == nil {
		t.last = make(map[uint32]uint32)
	}
	prev, ok := t.last[cpu]
	t.last[cpu] = seq
	if !ok {
		return 0
	}
	gap := seq - prev - 1 // wraps correctly on uint32 overflow
	if gap > 1<<30 {
		// Older than what we saw (reordering across a resubscribe): not a loss.
		return 0
	}
	return uint64(gap)
}
