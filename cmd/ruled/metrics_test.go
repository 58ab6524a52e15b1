package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/outputs"
	"github.com/ruled/ruled/outputs/respond"
	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/proctable"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/pipeline"
	"github.com/ruled/ruled/sources/sensors/audit"
	"github.com/ruled/ruled/sources/sensors/procconn"
)

// TestMetricsExposition serves a registry over counters set by hand and
// checks the text a scrape returns, series by series.
func TestMetricsExposition(t *testing.T) {
	stats := agentStats{
		pipe: pipeline.Stats{
			Stages: []pipeline.StageStats{
				{Stage: "intake", Received: 99, Passed: 99},
				{Stage: "merge", Received: 90, Passed: 60, Dropped: 30},
				{Stage: "engine", Received: 2, Passed: 1},
			},
			Late:     pipeline.LateStats{Deferred: 7, Overflow: 2},
			EvalTime: 4 * time.Millisecond,
			Sensors: &pipeline.SensorStats{
				Audit:      &audit.Stats{Events: 40, Records: 300, KernelLost: 5, SocketDrops: 1, KernelBacklog: 3, QueueDrops: 4, SeqLost: 12, OrphanEvents: 13},
				Procconn:   &procconn.Stats{Emitted: 60, Lost: 6, Overruns: 2},
				Merge:      &proctable.MergeStats{Merged: 30, Alone: 3, AloneUnnamed: 2, LateAudit: 1, LateEmitted: 1},
				Table:      proctable.Stats{Live: 120, Exited: 8},
				Containers: container.Stats{Cached: 3, Lookups: 9, Failures: 1, Dropped: 11},
			},
		},
		engine: engine.Stats{Events: 100, Errors: 1, Rules: []engine.RuleStats{{Name: `Shell "x"`, Alerts: 2, Suppressed: 5}}},
		rules:  []*engine.Rule{{Name: `Shell "x"`, Priority: event.PriorityCritical}},
		outputs: []outputs.OutputStats{
			{Name: "webhook+http://127.0.0.1:1/", Sent: 4, Failed: 3, Retried: 2, Dropped: 1, Queued: 6},
		},
		resp: &respond.Stats{Matched: 5, Host: 2, CooledDown: 1, Dropped: 1, Actions: 6, Failed: 1},
	}
	reg := newMetricsRegistry(func() agentStats { return stats })
	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := serveMetrics(ctx, "127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); wait() }()
	body := scrape(t, addr)
	for _, want := range []string{
		`ruled_events_received_total{source="audit"} 40`,
		`ruled_events_received_total{source="procconn"} 60`,
		`ruled_audit_records_total 300`,
		`ruled_stage_events_total{outcome="received",stage="intake"} 99`,
		`ruled_stage_events_total{outcome="dropped",stage="merge"} 30`,
		`ruled_stage_events_total{outcome="passed",stage="engine"} 1`,
		`ruled_response_matches_total{outcome="host_skipped"} 2`,
		`ruled_response_actions_total{result="done"} 5`,
		`ruled_response_actions_total{result="failed"} 1`,
		`ruled_queue_drops_total{stage="response"} 1`,
		`ruled_kernel_lost_total{source="audit"} 5`,
		`ruled_kernel_lost_total{source="procconn"} 6`,
		`ruled_socket_overruns_total{source="audit"} 1`,
		`ruled_socket_overruns_total{source="procconn"} 2`,
		`ruled_audit_backlog 3`,
		`ruled_queue_drops_total{stage="audit_parse"} 4`,
		`ruled_queue_drops_total{stage="container_lookup"} 11`,
		`ruled_queue_drops_total{stage="late_evaluation"} 2`,
		`ruled_exec_merge_total{result="merged"} 30`,
		`ruled_exec_merge_total{result="late_audit"} 1`,
		`ruled_exec_merge_total{result="late_emitted"} 1`,
		`ruled_exec_unnamed_total 2`,
		`ruled_audit_events_lost_total{reason="serial_gap"} 12`,
		`ruled_audit_events_lost_total{reason="no_syscall_record"} 13`,
		`ruled_process_table_processes{state="live"} 120`,
		`ruled_container_cache_entries 3`,
		`ruled_container_lookups_total 9`,
		`ruled_container_lookup_failures_total 1`,
		`ruled_late_evaluations_total{outcome="deferred"} 7`,
		`ruled_rule_events_evaluated_total 100`,
		`ruled_rule_errors_total 1`,
		`ruled_alerts_total{priority="Critical",rule="Shell \"x\""} 2`,
		`ruled_alerts_suppressed_total{rule="Shell \"x\""} 5`,
		`ruled_rule_evaluation_seconds_sum 0.004`,
		`ruled_rule_evaluation_seconds_count 2`,
		`ruled_output_sent_total{output="webhook+http://127.0.0.1:1/"} 4`,
		`ruled_output_failed_total{output="webhook+http://127.0.0.1:1/"} 3`,
		`ruled_output_retried_total{output="webhook+http://127.0.0.1:1/"} 2`,
		`ruled_output_dropped_total{output="webhook+http://127.0.0.1:1/"} 1`,
		`ruled_output_queued{output="webhook+http://127.0.0.1:1/"} 6`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(body, "\n"+want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if strings.Contains(body, `source="replay"`) {
		t.Error("live agent exports replay events")
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s, %v\n%s", resp.Status, err, b)
	}
	return "\n" + string(b)
}

// TestMetricsAddrTaken: a port in use is an error at start, not a silent
// agent without metrics.
func TestMetricsAddrTaken(t *testing.T) {
	reg := newMetricsRegistry(func() agentStats { return agentStats{} })
	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := serveMetrics(ctx, "127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); wait() }()
	if _, _, err := serveMetrics(ctx, addr, reg, slog.New(slog.DiscardHandler)); err == nil {
		t.Errorf("second server on %s: no error", addr)
	}
	// Nothing ran through the engine: the series exist at zero.
	if body := scrape(t, addr); !strings.Contains(body, "\nruled_rule_events_evaluated_total 0") {
		t.Errorf("zero counters missing:\n%s", body)
	}
}
