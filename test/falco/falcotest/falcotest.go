// Package falcotest runs the real Falco (../shared/falco/falco next to the
// repository, Falco 0.44.1 built without a kernel driver) with ruled's
// plugin, for tests that must see what Falco itself does with ruled's
// events: rules loading, conditions, outputs.
//
// API:
//
//	f := falcotest.Require(t)     // locates Falco, builds libruled.so once per test binary
//	alerts := f.ReplayAlerts(t, rulesYAML, eventsJSONL, initConfig)
//
// ReplayAlerts writes rulesYAML (Falco rules, source ruled) and eventsJSONL
// (ruled events as JSON lines, the `ruled events` / -replay format) to a
// temporary directory, runs Falco once with open_params replay:FILE until
// the file is exhausted, and returns the alerts Falco printed, in order.
// initConfig is the plugin's init_config as a JSON string ("" = defaults;
// `{"rules":["builtin"]}` makes the plugin evaluate ruled rules and fill
// ruled.rule ...). It fails the test when Falco refuses the config or the
// rules (the error carries Falco's own message).
//
// Falco's configuration: engine nodriver, json_output with the output,
// tags and output_fields properties, rule_matching all (every matching rule
// alerts, not just the first one of an event), the web server and metrics
// off. To tell which event an alert came from, put %evt.num in the rule's
// output: it is the 1-based position of the event among the JSON lines of
// the file (comment and blank lines are not events), and Alert.EventNum
// reads it back. output_fields keeps Falco's JSON types: strings, numbers as
// json.Number (uint64 values such as a negative evt.res do not fit a
// float64), booleans, and nil where Falco had no value (<NA> in Output).
//
// For anything else (other config keys, extra rules files, --list,
// --plugin-info, a live source), build a Config and use Replay or Command.
//
// Require fails (never skips) under CI=true when Falco cannot run, because
// test/setup.sh installs its runtime libraries; elsewhere it skips with the
// reason.
package falcotest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Falco is a runnable Falco with a freshly built libruled.so.
type Falco struct {
	// Bin is the absolute path of the falco executable.
	Bin string
	// Plugin is the absolute path of libruled.so built from this tree.
	Plugin string
	// Root is the repository root (where go.mod is).
	Root string
}

var (
	once    sync.Once
	shared  *Falco
	skipMsg string
	failMsg string
)

// Require returns the shared Falco of this test binary, building the plugin
// on first use. When Falco cannot run it skips the test, or fails it under
// CI=true.
func Require(t testing.TB) *Falco {
	t.Helper()
	once.Do(setup)
	if failMsg != "" {
		t.Fatal(failMsg)
	}
	if skipMsg != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: the real Falco must run; test/setup.sh installs its libraries)", skipMsg)
		}
		t.Skip(skipMsg)
	}
	return shared
}

func setup() {
	root, err := repoRoot()
	if err != nil {
		failMsg = err.Error()
		return
	}
	bin := filepath.Join(filepath.Dir(root), "shared", "falco", "falco")
	if _, err := os.Stat(bin); err != nil {
		skipMsg = fmt.Sprintf("real Falco not found at %s (../shared/falco/falco from the repository)", bin)
		return
	}
	if out, err := exec.Command(bin, "--version").CombinedOutput(); err != nil {
		skipMsg = fmt.Sprintf("%s --version: %v: %s (runtime libraries: apt-get install libjsoncpp25 libre2-9 libtbb12 libyaml-cpp0.7)",
			bin, err, bytes.TrimSpace(out))
		return
	}
	dir, err := os.MkdirTemp("", "ruled-falcotest")
	if err != nil {
		failMsg = err.Error()
		return
	}
	so := filepath.Join(dir, "libruled.so")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", so, "./plugin")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		failMsg = fmt.Sprintf("build libruled.so: %v\n%s", err, out)
		return
	}
	shared = &Falco{Bin: bin, Plugin: so, Root: root}
}

// repoRoot walks up from the working directory (a test's package
// directory) to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("falcotest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// BuildPlugin builds the Go package pkg (a path relative to the repository
// root, e.g. "./test/falco/containerfields") as a plugin library into a
// temporary directory of t and returns its path.
func (f *Falco) BuildPlugin(t testing.TB, pkg string) string {
	t.Helper()
	so := filepath.Join(t.TempDir(), filepath.Base(pkg)+".so")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", so, pkg)
	cmd.Dir = f.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return so
}

// Path returns the absolute path of a file given relative to the repository
// root, e.g. Path("plugin/falco/ruled_rules.yaml"); "../shared/..." reaches
// the shared folder.
func (f *Falco) Path(rel string) string { return filepath.Join(f.Root, rel) }

// Config is one Falco run.
type Config struct {
	// RulesFiles are loaded first, in order (absolute paths; see Path).
	RulesFiles []string
	// Rules is rules YAML text, written to a file loaded after RulesFiles.
	// Empty: no such file.
	Rules string
	// InitConfig is the plugin's init_config: a string (JSON, "" for the
	// defaults) or a value that becomes a YAML map (map[string]any).
	InitConfig any
	// OpenParams is the plugin's open_params ("audit,procconn",
	// "replay:/path"). Replay sets it (without DropIns).
	OpenParams string
	// Options are more falco.yaml top-level keys; they replace the
	// defaults of the same name.
	Options map[string]any
	// ExtraPlugins are more plugins entries, loaded before ruled.
	ExtraPlugins []map[string]any
	// DropIns are config.d files (YAML text), merged by Falco after
	// falco.yaml in order, appending to its lists (config_files). When
	// there are any, falco.yaml has no ruled plugin entry: a drop-in brings
	// it (the shipped plugin/falco/falco.yaml is one), and InitConfig and
	// OpenParams do not apply. The Rules file then comes in a last drop-in,
	// so it loads after the drop-ins' rules files.
	DropIns []string
}

// Write writes the falco.yaml for cfg (and its rules file) into dir and
// returns the path of falco.yaml.
func (f *Falco) Write(dir string, cfg Config) (string, error) {
	rules := append([]string(nil), cfg.RulesFiles...)
	dropIns := append([]string(nil), cfg.DropIns...)
	if cfg.Rules != "" {
		p := filepath.Join(dir, "rules.yaml")
		if err := os.WriteFile(p, []byte(cfg.Rules), 0o644); err != nil {
			return "", err
		}
		if len(dropIns) > 0 {
			b, err := yaml.Marshal(map[string]any{"rules_files": []string{p}})
			if err != nil {
				return "", err
			}
			dropIns = append(dropIns, string(b))
		} else {
			rules = append(rules, p)
		}
	}
	var load []string
	var entries []any
	for _, e := range cfg.ExtraPlugins {
		load = append(load, fmt.Sprint(e["name"]))
		entries = append(entries, e)
	}
	if len(dropIns) == 0 {
		ic := cfg.InitConfig
		if ic == nil {
			ic = ""
		}
		load = append(load, "ruled")
		entries = append(entries, map[string]any{"name": "ruled", "library_path": f.Plugin, "init_config": ic, "open_params": cfg.OpenParams})
	}
	doc := map[string]any{
		"engine":                       map[string]any{"kind": "nodriver"},
		"load_plugins":                 load,
		"plugins":                      entries,
		"rules_files":                  rules,
		"json_output":                  true,
		"json_include_output_property": true,
		"json_include_tags_property":   true,
		"stdout_output":                map[string]any{"enabled": true},
		"syslog_output":                map[string]any{"enabled": false},
		"file_output":                  map[string]any{"enabled": false},
		"buffered_outputs":             false,
		"rule_matching":                "all",
		"priority":                     "debug",
		"log_stderr":                   true,
		"log_syslog":                   false,
		"log_level":                    "info",
		"watch_config_files":           false,
		"webserver":                    map[string]any{"enabled": false},
		"metrics":                      map[string]any{"enabled": false},
	}
	if len(dropIns) > 0 {
		d := filepath.Join(dir, "config.d")
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
		for i, text := range dropIns {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%02d.yaml", i)), []byte(text), 0o644); err != nil {
				return "", err
			}
		}
		doc["config_files"] = []string{d}
	}
	for k, v := range cfg.Options {
		doc[k] = v
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "falco.yaml")
	return p, os.WriteFile(p, b, 0o644)
}

// Command returns falco -c CONFIG --disable-source syscall ARGS for cfg,
// with the config written to a fresh temporary directory of t.
func (f *Falco) Command(t testing.TB, cfg Config, args ...string) *exec.Cmd {
	t.Helper()
	p, err := f.Write(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return exec.Command(f.Bin, append([]string{"-c", p, "--disable-source", "syscall"}, args...)...)
}

// Result is what a Falco run printed.
type Result struct {
	Alerts []Alert
	// Stdout without the alert lines (Falco's end-of-run summary).
	Stdout string
	Stderr string
}

// Replay runs Falco on events (JSON lines) with cfg until the file ends.
// With DropIns, a drop-in must name the file: EventsPath in it is replaced
// by the path of the events file. The error holds Falco's stderr when it
// exits non-zero.
func (f *Falco) Replay(t testing.TB, cfg Config, events []byte) (Result, error) {
	t.Helper()
	dir := t.TempDir()
	ev := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(ev, events, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.OpenParams = "replay:" + ev
	cfg.DropIns = slices.Clone(cfg.DropIns)
	for i := range cfg.DropIns {
		cfg.DropIns[i] = strings.ReplaceAll(cfg.DropIns[i], EventsPath, ev)
	}
	p, err := f.Write(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(f.Bin, "-c", p, "--disable-source", "syscall")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		err = errors.New("falco did not finish the replay within 2 minutes")
	}
	res, perr := ParseOutput(stdout.Bytes())
	res.Stderr = stderr.String()
	if err != nil {
		return res, fmt.Errorf("falco: %w\nstderr:\n%s\nstdout:\n%s", err, res.Stderr, res.Stdout)
	}
	return res, perr
}

// EventsPath stands for the events file of a Replay in its DropIns.
const EventsPath = "@EVENTS@"

// ReplayAlerts is Replay with just rules text, events and init config; it
// fails the test on any error. See the package comment.
func (f *Falco) ReplayAlerts(t testing.TB, rules string, events []byte, initConfig string) []Alert {
	t.Helper()
	res, err := f.Replay(t, Config{Rules: rules, InitConfig: initConfig}, events)
	if err != nil {
		t.Fatal(err)
	}
	return res.Alerts
}

// Alert is one of Falco's JSON alerts.
type Alert struct {
	Time         time.Time      `json:"time"`
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	Output       string         `json:"output"`
	Source       string         `json:"source"`
	Hostname     string         `json:"hostname"`
	Tags         []string       `json:"tags"`
	OutputFields map[string]any `json:"output_fields"`
}

// EventNum is the alert's %evt.num (1-based event position in a replay).
func (a Alert) EventNum() (uint64, bool) {
	n, ok := a.OutputFields["evt.num"].(json.Number)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	return v, err == nil
}

// ParseOutput splits Falco's stdout into its JSON alerts and the rest.
func ParseOutput(stdout []byte) (Result, error) {
	var res Result
	var rest strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if !bytes.HasPrefix(b, []byte(`{"`)) {
			rest.Write(b)
			rest.WriteByte('\n')
			continue
		}
		a, err := ParseAlert(b)
		if err != nil {
			return res, fmt.Errorf("falco stdout line %d: %w", line, err)
		}
		res.Alerts = append(res.Alerts, a)
	}
	res.Stdout = rest.String()
	return res, sc.Err()
}

// ParseAlert decodes one JSON alert line of Falco's stdout.
func ParseAlert(line []byte) (Alert, error) {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var a Alert
	if err := d.Decode(&a); err != nil {
		return Alert{}, fmt.Errorf("falco alert: %w: %s", err, line)
	}
	return a, nil
}
