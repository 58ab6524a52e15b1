package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/outputs"
	"github.com/ruled/ruled/outputs/respond"
	"github.com/ruled/ruled/sources/pipeline"
)

// agentStats are the agent's counters at one scrape. The collector reads the
// counters each stage keeps anyway, so the event path pays nothing for
// metrics but the evaluation timer.
type agentStats struct {
	replay  bool
	pipe    pipeline.Stats // Sensors nil in replay mode
	engine  engine.Stats
	rules   []*engine.Rule
	outputs []outputs.OutputStats
	resp    *respond.Stats // nil without responses
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("ruled_"+name, help, labels, nil)
}

var (
	mEvents         = desc("events_received_total", "Events received from each source.", "source")
	mAuditRecords   = desc("audit_records_total", "Kernel audit records received.")
	mKernelLost     = desc("kernel_lost_total", "Events the kernel dropped: audit's lost counter (since boot, all readers) and the proc connector's sequence gaps.", "source")
	mOverruns       = desc("socket_overruns_total", "Netlink socket receive buffer overflows (ENOBUFS).", "source")
	mBacklog        = desc("audit_backlog", "Kernel audit backlog at the last status read.")
	mStage          = desc("stage_events_total", "Events through each stage of the event path (intake, order, merge, enrich, late, engine), by outcome: received, passed on (for the engine: alerts produced), dropped.", "stage", "outcome")
	mQueueDrops     = desc("queue_drops_total", "Items dropped because a bounded queue was full, per stage.", "stage")
	mAuditUnseen    = desc("audit_events_lost_total", "Audit events ruled could not tell, by how it knows: serials that never came (socket overrun) or events whose SYSCALL record the kernel lost.", "reason")
	mUnnamed        = desc("exec_unnamed_total", "Proc connector execs emitted alone with no name (process gone, audit's record lost or late): rules on proc.name cannot match them.")
	mMerge          = desc("exec_merge_total", "Exec events by how the proc connector's and audit's reports were merged.", "result")
	mProcs          = desc("process_table_processes", "Processes in the process table.", "state")
	mContainers     = desc("container_cache_entries", "Containers with runtime metadata in the cache.")
	mLookups        = desc("container_lookups_total", "Container runtime metadata lookups.")
	mLookupFailures = desc("container_lookup_failures_total", "Container runtime lookups that failed (runtime down or erroring).")
	mLate           = desc("late_evaluations_total", "Events of new containers held until the runtime answered, by outcome.", "outcome")
	mOrder          = desc("order_events_total", "Audit events of a process the table had not met, held until the proc connector drained its socket (its fork first), by outcome: held, fallback (no fork came: read from /proc), timeout, overflow.", "outcome")
	mEvaluated      = desc("rule_events_evaluated_total", "Events evaluated against the rules.")
	mRuleErrors     = desc("rule_errors_total", "Rule condition runtime errors (the rule is treated as not matching).")
	mAlerts         = desc("alerts_total", "Alerts emitted per rule.", "rule", "priority")
	mSuppressed     = desc("alerts_suppressed_total", "Alerts held back by the rate limiter per rule.", "rule")
	mEvalTime       = desc("rule_evaluation_seconds", "Time spent evaluating the rules on an event.")
	mOutSent        = desc("output_sent_total", "Alerts delivered per output.", "output")
	mOutFailed      = desc("output_failed_total", "Failed delivery attempts per output.", "output")
	mOutRetried     = desc("output_retried_total", "Delivery retries per output.", "output")
	mOutDropped     = desc("output_dropped_total", "Alerts dropped per output (queue full or retries exhausted).", "output")
	mOutQueued      = desc("output_queued", "Alerts waiting in each output's queue.", "output")
	mRespMatched    = desc("response_matches_total", "Alerts that matched a response entry (once per entry), by what became of them.", "outcome")
	mRespActions    = desc("response_actions_total", "Response actions run (dry runs included), by result.", "result")
)

// agentCollector exports agentStats.
type agentCollector struct{ stats func() agentStats }

func (agentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mStage, mEvents, mAuditRecords, mKernelLost, mOverruns, mBacklog, mQueueDrops, mMerge, mUnnamed, mAuditUnseen,
		mProcs, mContainers, mLookups, mLookupFailures, mLate, mOrder, mEvaluated, mRuleErrors, mAlerts, mSuppressed, mEvalTime,
		mOutSent, mOutFailed, mOutRetried, mOutDropped, mOutQueued, mRespMatched, mRespActions} {
		ch <- d
	}
}

func (c agentCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, st := range s.pipe.Stages {
		counter(mStage, st.Received, st.Stage, "received")
		counter(mStage, st.Passed, st.Stage, "passed")
		counter(mStage, st.Dropped, st.Stage, "dropped")
	}
	if s.replay {
		counter(mEvents, s.pipe.Stage("intake").Received, "replay")
	}
	if l := s.pipe.Sensors; l != nil {
		if a := l.Audit; a != nil {
			counter(mEvents, a.Events, "audit")
			counter(mAuditRecords, a.Records)
			counter(mKernelLost, a.KernelLost, "audit")
			counter(mOverruns, a.SocketDrops, "audit")
			gauge(mBacklog, float64(a.KernelBacklog))
			counter(mQueueDrops, a.QueueDrops, "audit_parse")
			counter(mQueueDrops, a.ReassemblyLost, "audit_reassembly")
			counter(mAuditUnseen, a.SeqLost, "serial_gap")
			counter(mAuditUnseen, a.OrphanEvents, "no_syscall_record")
			counter(mQueueDrops, a.WatchDrops, "audit_container_watch")
		}
		if p := l.Procconn; p != nil {
			counter(mEvents, p.Emitted, "procconn")
			counter(mKernelLost, p.Lost, "procconn")
			counter(mOverruns, p.Overruns, "procconn")
		}
		if m := l.Merge; m != nil {
			counter(mMerge, m.Merged, "merged")
			counter(mMerge, m.Alone, "alone")
			counter(mMerge, m.LateAudit, "late_audit")
			counter(mMerge, m.LateEmitted, "late_emitted")
			counter(mUnnamed, m.AloneUnnamed)
			counter(mMerge, m.Forced, "forced")
		}
		gauge(mProcs, float64(l.Table.Live), "live")
		gauge(mProcs, float64(l.Table.Exited), "exited")
		gauge(mContainers, float64(l.Containers.Cached))
		counter(mLookups, l.Containers.Lookups)
		counter(mLookupFailures, l.Containers.Failures)
		counter(mQueueDrops, l.Containers.Dropped, "container_lookup")
	}
	if s.pipe.Sensors != nil {
		counter(mLate, s.pipe.Late.Deferred, "deferred")
		counter(mLate, s.pipe.Late.Unresolved, "unresolved")
		counter(mQueueDrops, s.pipe.Late.Overflow, "late_evaluation")
	}
	if o := s.pipe.Order; o != nil {
		counter(mOrder, o.Held, "held")
		counter(mOrder, o.Fallback, "fallback")
		counter(mOrder, o.Timeouts, "timeout")
		counter(mOrder, o.Overflow, "overflow")
	}
	counter(mEvaluated, s.engine.Events)
	counter(mRuleErrors, s.engine.Errors)
	prio := make(map[string]string, len(s.rules))
	for _, r := range s.rules {
		prio[r.Name] = r.Priority.String()
	}
	for _, r := range s.engine.Rules {
		counter(mAlerts, r.Alerts, r.Name, prio[r.Name])
		counter(mSuppressed, r.Suppressed, r.Name)
	}
	ch <- prometheus.MustNewConstSummary(mEvalTime, s.pipe.Stage("engine").Received, s.pipe.EvalTime.Seconds(), nil)
	if r := s.resp; r != nil {
		counter(mRespMatched, r.Matched, "matched")
		counter(mRespMatched, r.Host, "host_skipped")
		counter(mRespMatched, r.CooledDown, "cooled_down")
		counter(mQueueDrops, r.Dropped, "response")
		counter(mRespActions, r.Actions-r.Failed, "done")
		counter(mRespActions, r.Failed, "failed")
	}
	for _, o := range s.outputs {
		counter(mOutSent, o.Sent, o.Name)
		counter(mOutFailed, o.Failed, o.Name)
		counter(mOutRetried, o.Retried, o.Name)
		counter(mOutDropped, o.Dropped, o.Name)
		gauge(mOutQueued, float64(o.Queued), o.Name)
	}
}

// newMetricsRegistry registers the agent's series and the Go and process
// collectors.
func newMetricsRegistry(stats func() agentStats) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(agentCollector{stats: stats}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics listens on addr at once (a taken port is a start-up error)
// and serves /metrics until ctx ends. It returns the address it listens on
// and a function that waits for the server to stop.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics")
	return ln.Addr().String(), func() { <-done }, nil
}
