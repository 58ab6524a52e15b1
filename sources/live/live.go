package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/netns"
	"github.com/ruled/ruled/sources/enrichers/proctable"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/pipeline"
	"github.com/ruled/ruled/sources/sensors/audit"
	"github.com/ruled/ruled/sources/sensors/procconn"
)

// Source names accepted by Config.Sources.
const (
	Audit    = "audit"
	Procconn = "procconn"
)

// Config selects and configures the live sensors.
type Config struct {
	// Sources lists audit and/or procconn; empty means both where the
	// kernel and privileges allow.
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
	Logger *slog.Logger
}

// Live is a set of running sensors plus the enrichment they share.
type Live struct {
	log     *slog.Logger
	table   *proctable.Table
	srcs    []sources.Source
	audit   *audit.Source
	conn    *procconn.Source
	merger  *proctable.Merger
	next    func(*event.Event)
	watches *watchTracker
	enrich  []sources.Enricher
	res     *container.Resolver
	nc      *netns.Cache
	workers []func(context.Context) error
}

// ParseSources splits a -sources list ("audit,procconn") and checks names.
func ParseSources(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s != Audit && s != Procconn {
			return nil, fmt.Errorf("unknown source %q (want audit, procconn)", s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// New builds the sensors. Asked-for sources that cannot run are an error;
// with no explicit choice, a source that cannot run is left out and the
// reason logged, and New fails only when none can run.
func New(cfg Config) (*Live, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	want := cfg.Sources
	explicit := len(want) > 0
	if !explicit {
		want = []string{Audit, Procconn}
	}
	l := &Live{log: log, table: proctable.New(proctable.Config{Logger: log, EnvMax: cfg.EnvMax})}
	l.newResolver(cfg)

	var skipped []string
	for _, name := range want {
		err := l.add(name, cfg)
		if err == nil {
			continue
		}
		if explicit {
			return nil, fmt.Errorf("source %s: %w", name, err)
		}
		log.Warn("source not started", "source", name, "reason", err.Error())
		skipped = append(skipped, name)
	}
	if len(l.srcs) == 0 {
		return nil, fmt.Errorf("no live source can run (%s): run as root, or use -replay FILE", strings.Join(skipped, ", "))
	}
	names := make([]string, len(l.srcs))
	for i, s := range l.srcs {
		names[i] = s.Name()
	}
	log.Info("live sources", "running", strings.Join(names, ","), "skipped", strings.Join(skipped, ","))

	l.enrich = append(l.enrich, l.table)
	l.addContainers(cfg)
	if l.audit != nil && l.conn != nil {
		// Created here, not in Handler, so Run may start in either order.
		l.merger = proctable.NewMerger(l.relyOnAuditExecs(), 0, l.finish)
	}
	return l, nil
}

func (l *Live) add(name string, cfg Config) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (CAP_AUDIT_CONTROL / CAP_NET_ADMIN)")
	}
	switch name {
	case Audit:
		s, err := audit.New(cfg.Audit, l.log.With("source", Audit))
		if err != nil {
			return err
		}
		l.audit = s
		l.watches = newWatchTracker(s.WatchDirs())
		s.SetPIDFinder(l.table.OldestIn)
		l.srcs = append(l.srcs, s)
	case Procconn:
		// exe and comm at receive: alone, nothing else would carry them
		// for a quick process; beside audit, they stand in when the
		// kernel dropped the exec's audit records (backlog overflow).
		s := procconn.New(procconn.Config{Logger: l.log.With("source", Procconn), Resync: l.table.Resync,
			ContainerOf: l.res.ContainerIDOf, ReadExec: true})
		l.conn = s
		l.srcs = append(l.srcs, s)
	}
	return nil
}

// Sources returns the sensors to run (in a pipeline).
func (l *Live) Sources() []sources.Source { return l.srcs }

// Table returns the shared process table.
func (l *Live) Table() *proctable.Table { return l.table }

// Seed reads /proc once so processes older than ruled have parents,
// ancestors and containers. Call it before the sources start.
func (l *Live) Seed(ctx context.Context) error {
	return l.table.Seed(ctx)
}

// Handler returns the function a pipeline calls for each raw event: it
// updates the process table, merges the two reports of one exec when both
// sources run, enriches, and passes the finished event to next. next is
// never called concurrently. Call it once, before events flow.
func (l *Live) Handler(next func(*event.Event)) func(*event.Event) {
	l.next = next
	if l.merger != nil {
		return func(ev *event.Event) {
			// Observe first: it reads /proc while the process still lives.
			l.table.Observe(ev)
			l.merger.Push(ev)
		}
	}
	var mu sync.Mutex
	return func(ev *event.Event) {
		mu.Lock()
		defer mu.Unlock()
		l.table.Observe(ev)
		l.finish(ev)
	}
}

// finish enriches an event and hands it on; the merger calls it for the
// events it releases.
func (l *Live) finish(ev *event.Event) {
	for _, e := range l.enrich {
		e.Enrich(ev)
	}
	if l.audit != nil {
		l.watchContainer(ev)
	}
	l.next(ev)
}

// Run runs the background workers (merge window, container metadata) until
// ctx ends. Call it after Handler.
func (l *Live) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(l.workers)+1)
	if l.merger != nil {
		wg.Go(func() { errs[0] = l.merger.Run(ctx) })
	}
	for i, w := range l.workers {
		wg.Go(func() { errs[i+1] = w(ctx) })
	}
	wg.Wait()
	if l.merger != nil {
		l.merger.Flush()
	}
	return errors.Join(errs...)
}

// LogStats logs every sensor's counters at Info (called periodically).
func (l *Live) LogStats() {
	if l.audit != nil {
		s := l.audit.Stats()
		l.log.Info("audit stats", "mode", s.Mode, "records", s.Records, "events", s.Events,
			"container_rules", s.ContainerRules, "container_rules_failed", s.ContainerFailed, "watch_drops", s.WatchDrops, "root_watches", s.RootWatches,
			"kernel_lost", s.KernelLost, "kernel_backlog", s.KernelBacklog, "queue_drops", s.QueueDrops,
			"socket_drops", s.SocketDrops, "seq_lost", s.SeqLost, "orphan_events", s.OrphanEvents,
			"reassembly_lost", s.ReassemblyLost, "parse_errors", s.ParseErrors)
	}
	if l.conn != nil {
		s := l.conn.Stats()
		l.log.Info("procconn stats", "received", s.Received, "lost", s.Lost, "overruns", s.Overruns,
			"emitted", s.Emitted, "resyncs", s.Resyncs, "exec_incomplete", s.ExecIncomplete)
	}
	if l.merger != nil {
		s := l.merger.Stats()
		l.log.Info("exec merge stats", "held", s.Held, "merged", s.Merged, "alone", s.Alone,
			"alone_unnamed", s.AloneUnnamed, "late_audit", s.LateAudit, "late_emitted", s.LateEmitted, "forced", s.Forced)
	}
	l.logContainerStats()
	s := l.table.Stats()
	l.log.Info("process table stats", "stats", fmt.Sprintf("%+v", s))
}

// Source returns the sensors as one sources.Source, for a caller that runs
// its own pipeline over finished events (the Falco plugin, ruled events).
// Its Run seeds the process table, runs the sensors behind Handler and the
// background workers, and emits enriched events until ctx ends.
func (l *Live) Source() sources.Source { return liveSource{l} }

type liveSource struct{ l *Live }

func (liveSource) Name() string { return "live" }

func (s liveSource) Run(ctx context.Context, emit func(*event.Event)) error {
	l := s.l
	if err := l.Seed(ctx); err != nil {
		// Events still flow; only processes older than ruled lack parents
		// and ancestry.
		l.log.Warn("process table seed incomplete", "err", err)
	}
	handle := l.Handler(emit)
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := l.Run(runCtx); err != nil {
			l.log.Warn("enrichment workers", "err", err)
		}
	})
	err := pipeline.New(l.Sources(), 0, l.log).Run(ctx, handle)
	// The workers flush the exec merger on the way out, so emit stays valid
	// until they are done.
	cancel()
	wg.Wait()
	return err
}

// Stats are every sensor's counters at one moment; nil for a sensor that
// does not run.
type Stats struct {
	Audit      *audit.Stats
	Procconn   *procconn.Stats
	Merge      *proctable.MergeStats
	Table      proctable.Stats
	Containers container.Stats
	Netns      netns.Stats
}

// Stats returns the counters (for metrics; LogStats logs the same).
func (l *Live) Stats() Stats {
	s := Stats{Table: l.table.Stats(), Containers: l.res.Stats(), Netns: l.nc.Stats()}
	if l.audit != nil {
		a := l.audit.Stats()
		s.Audit = &a
	}
	if l.conn != nil {
		c := l.conn.Stats()
		s.Procconn = &c
	}
	if l.merger != nil {
		m := l.merger.Stats()
		s.Merge = &m
	}
	return s
}
