package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/netns"
	"github.com/ruled/ruled/sources/enrichers/proctable"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/audit"
	"github.com/ruled/ruled/sources/sensors/procconn"
)

// Config describes one event path: where events come from and where they
// end.
type Config struct {
	// Sources lists the kernel sensors, audit and/or procconn; empty means
	// both where the kernel and privileges allow. Ignored with Offline.
	Sources []string
	Audit   audit.Config
	// DockerSocket is the Docker Engine API socket; "" means the default.
	DockerSocket string
	// CRISocket is a CRI runtime socket (containerd, CRI-O) asked beside
	// Docker; "" probes container.DefaultCRISockets, "none" asks none.
	CRISocket string
	// EnvMax bounds proc.env (bytes of /proc/PID/environ); see
	// proctable.Config.EnvMax (negative: no environment).
	EnvMax int
	// ExecReader is the program the proc connector's exec readers run
	// as (procconn.Config.ExecReader): the agent's own binary, whose main
	// calls procconn.ServeExecReader. Empty (the Falco plugin, which
	// cannot start one) reads execs in threads of this process.
	ExecReader string

	// Offline, when set, runs these sources (a replay) instead of the
	// kernel sensors. Their events carry what was recorded: they skip the
	// process table, the exec merge, enrichment and the metadata wait.
	Offline []sources.Source

	// Rules returns the engine to evaluate each event with (it is asked
	// per event, so a reload takes effect at once). Nil ends the path
	// before the engine: finished events go to Run's sink.
	Rules func() *engine.Engine
	// Alert takes each alert (the outputs, the responder); it must not
	// block. Used with Rules.
	Alert func(event.Alert)

	// Queue bounds the intake queue (0: DefaultQueue).
	Queue  int
	Logger *slog.Logger
}

// Pipeline is the one owner of the event path:
//
//	sensors ─► intake queue ─► order barrier ─► process table + exec merge ─► enrichment
//	        ─► metadata wait (beside the path) ─► engine ─► alerts
//
// New builds it from a Config; Run runs every stage until its context ends
// (or an offline source is exhausted) and returns once every event taken in
// has left the path.
type Pipeline struct {
	log   *slog.Logger
	cfg   Config
	srcs  []sources.Source
	queue int

	// Live only (nil offline).
	table   *proctable.Table
	audit   *audit.Source
	conn    *procconn.Source
	merger  *proctable.Merger
	watches *watchTracker
	enrich  []sources.Enricher
	res     *container.Resolver
	nc      *netns.Cache
	workers []func(context.Context) error
	late    *lateEval
	gate    *orderGate // both sensors: a process's fork before audit's reports of it
	in      *intake

	sink   func(*event.Event)
	sinkMu sync.Mutex // the path and the metadata wait both deliver

	intake, merge, enriched, engineC stageCounters
	evalNanos                        atomic.Uint64
	// self and selfExe name this process and its executable: the
	// parent and program of its own helpers (ownHelper).
	self    int
	selfExe string
	own     atomic.Uint64
}

// New builds the path. For live sensors it needs root; see Config.Sources
// for what happens when a sensor cannot run.
func New(cfg Config) (*Pipeline, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{log: log, cfg: cfg, queue: cfg.Queue, self: os.Getpid()}
	if exe, err := os.Readlink("/proc/self/exe"); err == nil {
		p.selfExe = strings.TrimSuffix(exe, " (deleted)")
	}
	if p.queue <= 0 {
		p.queue = DefaultQueue
	}
	if cfg.Rules != nil && cfg.Alert == nil {
		return nil, errors.New("pipeline: Rules without Alert")
	}
	if cfg.Offline != nil {
		p.srcs = cfg.Offline
		return p, nil
	}
	if err := p.newSensors(cfg); err != nil {
		return nil, err
	}
	p.late = newLateEval(p.res, p.evaluate)
	return p, nil
}

// Sources returns the sensors the path runs (the agent guards audit's state
// while they run).
func (p *Pipeline) Sources() []sources.Source { return p.srcs }

func (p *Pipeline) live() bool { return p.table != nil }

// Run runs the path until ctx ends or every source has finished, handing
// each finished event to sink when the Config has no Rules (sink may be nil
// otherwise). sink is never called concurrently. Before it returns, the
// events the exec merge holds and those waiting for container metadata are
// released (with what is known), so every event taken in comes out. Run
// may be called once.
func (p *Pipeline) Run(ctx context.Context, sink func(*event.Event)) error {
	if p.cfg.Rules == nil && sink == nil {
		return errors.New("pipeline: Run without a sink or Rules")
	}
	p.sink = sink
	if !p.live() {
		return fanIn(ctx, p.srcs, p.queue, p.log, &p.intake, p.evaluate)
	}
	if err := p.table.Seed(ctx); err != nil {
		// Events still flow; only processes older than ruled lack
		// parents and ancestry.
		p.log.Warn("process table seed incomplete", "err", err)
	}
	workCtx, stopWork := context.WithCancel(ctx)
	var workers sync.WaitGroup
	errs := make([]error, len(p.workers)+1)
	if p.merger != nil {
		workers.Go(func() { errs[0] = p.merger.Run(workCtx) })
	}
	for i, w := range p.workers {
		workers.Go(func() { errs[i+1] = w(workCtx) })
	}
	// The metadata wait outlives the workers: the merger's last flush
	// may still defer events into it.
	lateCtx, stopLate := context.WithCancel(context.WithoutCancel(ctx))
	var lateDone sync.WaitGroup
	lateDone.Go(func() { p.late.run(lateCtx) })

	p.in = newIntake(p.queue, &p.intake)
	h := handlers{event: p.observe}
	if g := p.gate; g != nil {
		h = handlers{event: g.event, drained: g.drained, timer: g.timerC, expire: g.expire}
	}
	err := runIntake(ctx, p.srcs, p.in, p.log, h)
	if p.gate != nil {
		// What still waits for a barrier goes on with what is known.
		p.gate.flush()
	}
	stopWork()
	workers.Wait()
	if p.merger != nil {
		p.merger.Flush()
	}
	stopLate()
	lateDone.Wait()
	if werr := errors.Join(errs...); werr != nil {
		p.log.Warn("enrichment workers", "err", werr)
	}
	return err
}

// markDrained is the proc connector's answer to a barrier request (its
// Config.Drained), queued behind the events it emitted before.
func (p *Pipeline) markDrained(gen uint64) { p.in.mark(gen) }

// observe is the path's stage after the order gate, on fanIn's goroutine: the process table
// sees every event in arrival order (an exec before that process's later
// events), then the merge pairs the two reports of one exec.
func (p *Pipeline) observe(ev *event.Event) {
	// Observe first: it reads /proc while the process still lives.
	p.table.Observe(ev)
	if p.merger == nil {
		p.finish(ev)
		return
	}
	p.merge.received.Add(1)
	p.merger.Push(ev)
}

// merged takes what the merger releases, outside its lock and one call at a
// time (from Push on fanIn's goroutine or from the merger's window timer).
func (p *Pipeline) merged(ev *event.Event) {
	p.merge.passed.Add(1)
	p.finish(ev)
}

// finish enriches an event and evaluates it now, or, when its container's
// runtime metadata is still being looked up, leaves it to the metadata wait.
// Enrichment may read a namespace's socket table; it holds no lock another
// event needs.
func (p *Pipeline) finish(ev *event.Event) {
	p.enriched.received.Add(1)
	for _, e := range p.enrich {
		e.Enrich(ev)
	}
	if p.audit != nil {
		p.watchContainer(ev)
	}
	p.enriched.passed.Add(1)
	if p.late.offer(ev) {
		return
	}
	p.evaluate(ev)
}

// evaluate is the engine stage (or, without Rules, the hand-off to the
// sink). It runs on the path and on the metadata wait's goroutine.
func (p *Pipeline) evaluate(ev *event.Event) {
	if p.cfg.Rules == nil {
		p.engineC.received.Add(1)
		p.sinkMu.Lock()
		p.sink(ev)
		p.sinkMu.Unlock()
		p.engineC.passed.Add(1)
		return
	}
	p.engineC.received.Add(1)
	if p.ownHelper(ev) {
		p.own.Add(1)
		event.Release(ev)
		return
	}
	start := time.Now()
	alerts := p.cfg.Rules().Eval(ev)
	p.evalNanos.Add(uint64(time.Since(start)))
	p.engineC.passed.Add(uint64(len(alerts)))
	for _, a := range alerts {
		p.cfg.Alert(a)
	}
	if len(alerts) == 0 {
		// The path was ev's last holder (an alert would hold it): the
		// sensors reuse the struct.
		event.Release(ev)
	}
}

// ownHelper says whether ev is of a process ruled started from its own
// binary (the proc connector's exec readers, Config.ExecReader): its
// machinery, not the host's activity, so no rule sees it. A process can
// only be this process's child by this process starting it.
func (p *Pipeline) ownHelper(ev *event.Event) bool {
	return p.live() && p.selfExe != "" && ev.Proc.PPID == p.self && ev.Proc.Exe == p.selfExe
}

// Source returns the whole path as one sources.Source whose events are the
// finished ones, for a caller that delivers them itself (the Falco plugin).
func (p *Pipeline) Source() sources.Source { return pathSource{p} }

type pathSource struct{ p *Pipeline }

func (pathSource) Name() string { return "live" }

func (s pathSource) Run(ctx context.Context, emit func(*event.Event)) error {
	return s.p.Run(ctx, emit)
}

// stageCounters are one stage's counters, read at any time.
type stageCounters struct {
	received, passed, dropped atomic.Uint64
}

func (c *stageCounters) stats(name string) StageStats {
	return StageStats{Stage: name, Received: c.received.Load(), Passed: c.passed.Load(), Dropped: c.dropped.Load()}
}

// StageStats are one stage's counters. What a stage received and neither
// passed nor dropped is still in it (held for an exec's twin, waiting for
// metadata) or was folded into another event (the two reports of one exec
// leave the merge as one).
type StageStats struct {
	Stage    string
	Received uint64
	Passed   uint64 // to the next stage; for the engine, alerts produced
	Dropped  uint64
}

// LateStats are the metadata wait's own counters.
type LateStats struct {
	Deferred   uint64 // events that waited
	Unresolved uint64 // of those, evaluated without the metadata (timeout, runtime down, stop)
	Overflow   uint64 // events not deferred because the wait's queue was full (evaluated at once)
}

// Stats are the path's counters at one moment.
type Stats struct {
	// Stages in path order: intake, order and merge (both sensors only),
	// enrich, late, engine (live); intake, engine (offline).
	Stages []StageStats
	Late   LateStats
	// Order is the order stage's own counters (nil without it).
	Order *OrderStats
	// EvalTime is the time spent in the engine (zero without Rules).
	EvalTime time.Duration
	// Own counts the events of ruled's own helper processes, which the
	// engine does not see (Pipeline.ownHelper).
	Own uint64
	// Sensors are the kernel sensors' and enrichers' counters; nil offline.
	Sensors *SensorStats
}

// Stage returns the named stage's counters (zero if the path has none).
func (s Stats) Stage(name string) StageStats {
	for _, st := range s.Stages {
		if st.Stage == name {
			return st
		}
	}
	return StageStats{Stage: name}
}

// SensorStats are every sensor's and enricher's counters; nil for a sensor
// that does not run.
type SensorStats struct {
	Audit      *audit.Stats
	Procconn   *procconn.Stats
	Merge      *proctable.MergeStats
	Table      proctable.Stats
	Containers container.Stats
	Netns      netns.Stats
}

// Stats returns the counters (for metrics; LogStats logs the same).
func (p *Pipeline) Stats() Stats {
	s := Stats{EvalTime: time.Duration(p.evalNanos.Load()), Own: p.own.Load()}
	s.Stages = append(s.Stages, p.intake.stats("intake"))
	if !p.live() {
		s.Stages = append(s.Stages, p.engineC.stats("engine"))
		return s
	}
	ss := &SensorStats{Table: p.table.Stats(), Containers: p.res.Stats(), Netns: p.nc.Stats()}
	if p.audit != nil {
		a := p.audit.Stats()
		ss.Audit = &a
	}
	if p.conn != nil {
		c := p.conn.Stats()
		ss.Procconn = &c
	}
	if p.gate != nil {
		o := p.gate.stats()
		s.Order = &o
		s.Stages = append(s.Stages, p.gate.c.stats("order"))
	}
	if p.merger != nil {
		m := p.merger.Stats()
		ss.Merge = &m
		st := p.merge.stats("merge")
		// The twin of a merged exec, and audit's report of an exec
		// already out with a name, leave with their partner.
		st.Dropped = m.Merged + m.LateAudit
		s.Stages = append(s.Stages, st)
	}
	s.Sensors = ss
	s.Late = LateStats{Deferred: p.late.deferred.Load(), Unresolved: p.late.unresolved.Load(), Overflow: p.late.overflow.Load()}
	late := StageStats{Stage: "late", Received: s.Late.Deferred, Passed: p.late.passed.Load()}
	s.Stages = append(s.Stages, p.enriched.stats("enrich"), late, p.engineC.stats("engine"))
	return s
}

// LogStats logs every stage's and sensor's counters at Info (periodically
// and at stop).
func (p *Pipeline) LogStats() {
	s := p.Stats()
	for _, st := range s.Stages {
		p.log.Info("stage stats", "stage", st.Stage, "received", st.Received, "passed", st.Passed, "dropped", st.Dropped)
	}
	if !p.live() {
		return
	}
	p.log.Info("late evaluation stats", "deferred", s.Late.Deferred, "unresolved", s.Late.Unresolved, "overflow", s.Late.Overflow)
	if o := s.Order; o != nil {
		p.log.Info("order stats", "held", o.Held, "syncs", o.Syncs, "fallback", o.Fallback, "timeouts", o.Timeouts, "overflow", o.Overflow)
	}
	ss := s.Sensors
	if a := ss.Audit; a != nil {
		p.log.Info("audit stats", "mode", a.Mode, "records", a.Records, "events", a.Events,
			"container_rules", a.ContainerRules, "container_rules_failed", a.ContainerFailed, "watch_drops", a.WatchDrops, "root_watches", a.RootWatches,
			"kernel_lost", a.KernelLost, "kernel_backlog", a.KernelBacklog, "queue_drops", a.QueueDrops,
			"socket_drops", a.SocketDrops, "seq_lost", a.SeqLost, "orphan_events", a.OrphanEvents,
			"reassembly_lost", a.ReassemblyLost, "parse_errors", a.ParseErrors)
	}
	if c := ss.Procconn; c != nil {
		p.log.Info("procconn stats", "received", c.Received, "lost", c.Lost, "overruns", c.Overruns,
			"emitted", c.Emitted, "resyncs", c.Resyncs, "exec_incomplete", c.ExecIncomplete,
			"exec_read_late", c.ExecReadLate, "prefetch_overruns", c.PrefetchOverruns, "host_execs", c.HostExecs, "execs_captured", c.ExecsCaptured, "syncs", c.Syncs)
	}
	if m := ss.Merge; m != nil {
		p.log.Info("exec merge stats", "held", m.Held, "merged", m.Merged, "alone", m.Alone,
			"alone_unnamed", m.AloneUnnamed, "late_audit", m.LateAudit, "late_emitted", m.LateEmitted, "forced", m.Forced)
	}
	cs, ns := ss.Containers, ss.Netns
	p.log.Info("container stats", "cached", cs.Cached, "lookups", cs.Lookups, "failures", cs.Failures,
		"dropped", cs.Dropped, "upper_unknown", cs.UpperUnknown, "netns", ns.Namespaces, "netns_reads", ns.Reads, "netns_read_errors", ns.ReadErrors)
	p.log.Info("process table stats", "stats", fmt.Sprintf("%+v", ss.Table))
}
