package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// Alert is one JSON alert line of `ruled -output json`.
type Alert struct {
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
}

// Field returns an output field as text ("" when absent).
func (a Alert) Field(k string) string {
	v, ok := a.OutputFields[k]
	if !ok || v == nil {
		return ""
	}
	if f, ok := v.(float64); ok {
		return fmt.Sprint(int64(f))
	}
	return fmt.Sprint(v)
}

// Alerts decodes the agent's stdout lines so far as JSON alerts; a line
// that is not one fails the test.
func (a *Agent) Alerts(t testing.TB) []Alert {
	t.Helper()
	var out []Alert
	for _, l := range a.Lines() {
		var al Alert
		if err := json.Unmarshal(l, &al); err != nil {
			t.Fatalf("alert line is not JSON: %v: %s", err, l)
		}
		out = append(out, al)
	}
	return out
}

// WaitAlert returns the first alert match accepts, failing the test when
// none comes within d.
func (a *Agent) WaitAlert(t testing.TB, d time.Duration, what string, match func(Alert) bool) Alert {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, al := range a.Alerts(t) {
			if match(al) {
				return al
			}
		}
		if !a.Running() {
			t.Fatalf("ruled exited before alerting %s", what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert %s within %v; alerts: %+v", what, d, a.Alerts(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
