package falcoreplay

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
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

var (
	soOnce sync.Once
	soPath string
	soDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if soDir != "" {
		os.RemoveAll(soDir)
	}
	os.Exit(code)
}

// libruled builds the plugin once per test binary.
func libruled(t testing.TB) string {
	t.Helper()
	soOnce.Do(func() {
		dir, err := os.MkdirTemp("", "falcoreplay")
		if err != nil {
			t.Fatal(err)
		}
		soDir = dir
		soPath = build(t, dir, "./plugin", "libruled.so")
	})
	if soPath == "" {
		t.Fatal("libruled.so did not build")
	}
	return soPath
}

func needFalco(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(falcoBin); err != nil {
		t.Fatalf("the real Falco is needed (see ../shared/falco/README.md): %v", err)
	}
}

// falco runs the real Falco with conf and returns the alert lines.
func falco(t *testing.T, dir, conf string, args ...string) []string {
	t.Helper()
	cfg := filepath.Join(dir, fmt.Sprintf("falco-%d.yaml", len(conf)))
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(falcoBin, append([]string{"-c", cfg}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("falco: %v\n%s\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	var alerts []string
	for l := range strings.Lines(stdout.String()) {
		// "10:00:00.000000000: Warning ls seen ..." -> "ls seen ..."
		if _, rest, ok := strings.Cut(strings.TrimSpace(l), ": Warning "); ok {
			alerts = append(alerts, rest)
		}
	}
	return alerts
}

func pluginConf(so, openParams string) string {
	return fmt.Sprintf(`load_plugins: [ruled]
plugins:
  - name: ruled
    library_path: %s
    init_config: ""
    open_params: %q
`, so, openParams)
}

// A capture written by a plugin before the binary payload (JSON lines,
// testdata/json-payload.scap) still decodes field for field, and so does
// one written with today's payload.
func TestCaptureFilesDecode(t *testing.T) {
	needFalco(t)
	so := libruled(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(captureRule), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonl, _ := writeEvents(t, dir, 20)
	common := fmt.Sprintf("rules_files: [%s]\njson_output: false\nstdout_output: {enabled: true}\n", rules)
	replayCapture := func(scap string) []string {
		abs, err := filepath.Abs(scap)
		if err != nil {
			t.Fatal(err)
		}
		return falco(t, dir, pluginConf(so, "")+common+
			fmt.Sprintf("engine:\n  kind: replay\n  replay:\n    capture_file: %s\n", abs))
	}

	t.Run("json payload", func(t *testing.T) {
		// Written by Falco 0.44.1's capture (mode all_rules) with
		// libruled.so of commit d324b06, replaying writeEvents' first 20.
		if got := replayCapture("testdata/json-payload.scap"); !slices.Equal(got, wantCaptured) {
			t.Errorf("alerts:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCaptured, "\n"))
		}
	})

	t.Run("binary payload", func(t *testing.T) {
		prefix := filepath.Join(dir, "capture")
		live := falco(t, dir, pluginConf(so, "replay:"+jsonl)+common+
			fmt.Sprintf("engine: {kind: nodriver}\ncapture:\n  enabled: true\n  path_prefix: %s\n  mode: all_rules\n  default_duration: 60000\n", prefix),
			"--disable-source", "syscall")
		if !slices.Equal(live, wantCaptured) {
			t.Fatalf("alerts while capturing:\n%s\nwant\n%s", strings.Join(live, "\n"), strings.Join(wantCaptured, "\n"))
		}
		scaps, _ := filepath.Glob(prefix + "*.scap")
		if len(scaps) != 1 {
			t.Fatalf("capture files %v, want one", scaps)
		}
		if got := replayCapture(scaps[0]); !slices.Equal(got, wantCaptured) {
			t.Errorf("alerts from the capture:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCaptured, "\n"))
		}
	})
}
