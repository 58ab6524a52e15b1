package falcoreplay

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ruled/ruled/test/falco/falcotest"
)

// captureRule fires on the execs of ls among the benign events and prints
// one field of every kind, so a payload that decodes wrong shows.
const captureRule = `- rule: ls seen
  desc: fires on the ls execs of the benign events
  condition: ruled.evt.type = execve and ruled.proc.name = ls
  output: "ls seen name=%ruled.proc.name pid=%ruled.proc.pid container=%ruled.container.name labels=%ruled.container.labels[app] args=%ruled.proc.args success=%ruled.evt.success time=%ruled.evt.time"
  priority: WARNING
  source: ruled
`

// wantCaptured is what the rule prints for the first 20 benign events.
var wantCaptured = []string{
	"ls seen name=ls pid=10000 container=web-0 labels=web args=(ls,-la,/var/log) success=true time=1796378400000000000",
	"ls seen name=ls pid=10001 container= labels=<NA> args=(ls,-la,/var/log) success=true time=1796378400005000000",
	"ls seen name=ls pid=10002 container= labels=<NA> args=(ls,-la,/var/log) success=true time=1796378400010000000",
	"ls seen name=ls pid=10003 container=web-1 labels=web args=(ls,-la,/var/log) success=true time=1796378400015000000",
}

// outputs drops Falco's "time: Priority " prefix from each alert.
func outputs(t *testing.T, as []falcotest.Alert) []string {
	t.Helper()
	var out []string
	for _, a := range as {
		_, rest, ok := strings.Cut(a.Output, ": Warning ")
		if !ok {
			t.Fatalf("alert output %q", a.Output)
		}
		out = append(out, rest)
	}
	return out
}

// replayCapture runs Falco's replay engine on a capture file.
func replayCapture(t *testing.T, f *falcotest.Falco, scap string) []string {
	t.Helper()
	abs, err := filepath.Abs(scap)
	if err != nil {
		t.Fatal(err)
	}
	cmd := f.Command(t, falcotest.Config{Rules: captureRule, Options: map[string]any{
		"engine": map[string]any{"kind": "replay", "replay": map[string]any{"capture_file": abs}},
	}})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("falco on %s: %v\n%s", scap, err, stderr.Bytes())
	}
	res, err := falcotest.ParseOutput(stdout.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return outputs(t, res.Alerts)
}

// A capture written by a plugin before the binary payload (JSON lines,
// testdata/json-payload.scap) still decodes field for field, and so does
// one written with today's payload.
func TestCaptureFilesDecode(t *testing.T) {
	f := falcotest.Require(t)

	t.Run("json payload", func(t *testing.T) {
		// Written by Falco 0.44.1's capture (mode all_rules) with
		// libruled.so of commit d324b06, replaying writeEvents' first 20.
		if got := replayCapture(t, f, "testdata/json-payload.scap"); !slices.Equal(got, wantCaptured) {
			t.Errorf("alerts:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCaptured, "\n"))
		}
	})

	t.Run("binary payload", func(t *testing.T) {
		dir := t.TempDir()
		jsonl, _ := writeEvents(t, dir, 20)
		events, err := os.ReadFile(jsonl)
		if err != nil {
			t.Fatal(err)
		}
		prefix := filepath.Join(dir, "capture")
		res, err := f.Replay(t, falcotest.Config{Rules: captureRule, Options: map[string]any{
			"capture": map[string]any{"enabled": true, "path_prefix": prefix, "mode": "all_rules", "default_duration": 60000},
		}}, events)
		if err != nil {
			t.Fatal(err)
		}
		if got := outputs(t, res.Alerts); !slices.Equal(got, wantCaptured) {
			t.Fatalf("alerts while capturing:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCaptured, "\n"))
		}
		scaps, _ := filepath.Glob(prefix + "*.scap")
		if len(scaps) != 1 {
			t.Fatalf("capture files %v, want one", scaps)
		}
		if got := replayCapture(t, f, scaps[0]); !slices.Equal(got, wantCaptured) {
			t.Errorf("alerts from the capture:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCaptured, "\n"))
		}
	})
}
