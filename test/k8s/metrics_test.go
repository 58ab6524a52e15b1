package k8s

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

const markerRule = `- rule: Metrics marker
  desc: the scrape test's marker command ran
  condition: evt.type == "execve" and proc.cmdline contains "ruled-metrics-marker"
  output: marker ran (cmd=%proc.cmdline)
  priority: NOTICE
`

// TestMetricsScrape: the real agent with -metrics-addr serves /metrics;
// after it alerted on a marker command, a scrape shows events from both
// live sources, the alert under its rule and priority, the output's sent
// count, the process table, rule evaluation time and the Go and process
// collectors.
func TestMetricsScrape(t *testing.T) {
	e2e.RequireRoot(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, "marker.yaml")
	if err := os.WriteFile(rules, []byte(markerRule), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	e2e.SaveAudit(t)
	a := e2e.StartAgent(t, e2e.RuledBinary(t), nil, "-rules", rules, "-output", "json", "-metrics-addr", addr)
	t.Cleanup(func() {
		if code, err := a.Stop(20 * time.Second); code != 0 || err != nil {
			t.Errorf("ruled exit %d, %v", code, err)
		}
	})
	a.WaitLog(t, "ruled running", 30*time.Second)
	a.WaitLog(t, "audit rules installed", 30*time.Second)
	if err := exec.Command("/bin/sh", "-c", "sleep 0.2", "ruled-metrics-marker").Run(); err != nil {
		t.Fatal(err)
	}
	a.WaitAlert(t, 10*time.Second, "for the marker", func(al e2e.Alert) bool { return al.Rule == "Metrics marker" })

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s %v", resp.Status, err)
	}
	body := string(b)
	for series, min := range map[string]float64{
		`ruled_events_received_total{source="audit"}`:                 1,
		`ruled_events_received_total{source="procconn"}`:              1,
		`ruled_alerts_total{priority="Notice",rule="Metrics marker"}`: 1,
		`ruled_output_sent_total{output="json"}`:                      1,
		`ruled_output_dropped_total{output="json"}`:                   0,
		`ruled_process_table_processes{state="live"}`:                 10,
		`ruled_rule_events_evaluated_total`:                           1,
		`ruled_rule_evaluation_seconds_count`:                         1,
		`ruled_exec_merge_total{result="merged"}`:                     1,
		`ruled_kernel_lost_total{source="audit"}`:                     0,
		`ruled_socket_overruns_total{source="procconn"}`:              0,
		`ruled_queue_drops_total{stage="audit_parse"}`:                0,
		`ruled_container_cache_entries`:                               0,
		`ruled_container_lookups_total`:                               0,
		`go_goroutines`:                                               1,
		`process_resident_memory_bytes`:                               1,
	} {
		v, ok := sample(body, series)
		if !ok {
			t.Errorf("scrape lacks %s", series)
			continue
		}
		if v < min {
			t.Errorf("%s = %v, want ≥ %v", series, v, min)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

// sample finds one series' value in a text exposition.
func sample(body, series string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// freePort returns a loopback address nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
