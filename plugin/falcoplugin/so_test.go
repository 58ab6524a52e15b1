package falcoplugin

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/falcosecurity/plugin-sdk-go/pkg/loader"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk"

	"github.com/ruled/ruled/sources/event"
)

// The .so and the C harness are built once per test binary: a c-shared
// build takes 20-40 s here.
var (
	buildOnce sync.Once
	soPath    string
	harnessEx string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func built(t testing.TB) (so, harness string) {
	t.Helper()
	buildOnce.Do(func() {
		if _, err := exec.LookPath("gcc"); err != nil {
			buildErr = fmt.Errorf("gcc: %w", err)
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "libruled-test")
		if buildErr != nil {
			return
		}
		soPath = filepath.Join(buildDir, "libruled.so")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-ldflags", "-X main.version=1.2.3-test", "-o", soPath, "./plugin")
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build .so: %v\n%s", err, out)
			return
		}
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/falcosecurity/plugin-sdk-go").Output()
		if err != nil {
			buildErr = fmt.Errorf("find plugin-sdk-go: %w", err)
			return
		}
		inc := filepath.Join(strings.TrimSpace(string(out)), "pkg", "sdk")
		harnessEx = filepath.Join(buildDir, "harness")
		if out, err := exec.Command("gcc", "-O2", "-Wall", "-Werror", "-I", inc, "-o", harnessEx, "../harness/harness.c", "-ldl").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build harness: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return soPath, harnessEx
}

func TestLoader(t *testing.T) {
	so, _ := built(t)
	p, err := loader.NewValidPlugin(so)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Unload()
	info := p.Info()
	if info.Name != PluginName || info.ID != PluginID || info.EventSource != EventSource || info.Version != "1.2.3-test" || info.RequiredAPIVersion != RequiredAPIVersion {
		t.Errorf("info %+v", info)
	}
	if !p.HasCapSourcing() || !p.HasCapExtraction() {
		t.Error("capabilities missing")
	}
	if s := p.InitSchema(); s == nil || !strings.Contains(s.Schema, `"audit_mode"`) {
		t.Errorf("init schema %v", s)
	}
	got := p.Fields()
	want := FieldEntries()
	if len(got) != len(want) {
		t.Fatalf("%d fields, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Type != w.Type || g.IsList != w.IsList || g.Arg != w.Arg || g.Desc != w.Desc {
			t.Errorf("field %d: got %+v want %+v", i, g, w)
		}
	}
	if _, err := p.OpenParams(); err == nil {
		t.Error("open params before init: no error")
	}

	// Bad configs are init errors with a message, never a crash; the
	// loader validates against the published schema first, then Init.
	for _, bad := range []string{`{"audit_mode":"both"}`, `{"nope":1}`, `{"rules":["/nonexistent.yaml"]}`, `[1]`} {
		p2, err := loader.NewValidPlugin(so)
		if err != nil {
			t.Fatal(err)
		}
		if err := p2.Init(bad); err == nil {
			t.Errorf("init %s: no error", bad)
		} else {
			t.Logf("init %s: %v", bad, err)
		}
		p2.Unload()
	}

	if err := p.Init(`{"sources":"procconn","log_level":"error"}`); err != nil {
		t.Fatal(err)
	}
	params, err := p.OpenParams()
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, op := range params {
		values = append(values, op.Value)
	}
	if !strings.Contains(strings.Join(values, " "), "audit,procconn") || !strings.Contains(strings.Join(values, " "), ReplayPrefix) {
		t.Errorf("open params %v", values)
	}
}

// harnessField is the harness's ID:TYPE:LIST:NAME[:KEY] argument.
func harnessField(id int, e sdk.FieldEntry, key string) string {
	typ := map[string]uint32{"string": sdk.FieldTypeCharBuf, "uint64": sdk.FieldTypeUint64, "bool": sdk.FieldTypeBool, "abstime": sdk.FieldTypeAbsTime}[e.Type]
	list := 0
	if e.IsList {
		list = 1
	}
	s := fmt.Sprintf("%d:%d:%d:%s", id, typ, list, e.Name)
	if key != "" {
		s += ":" + key
	}
	return s
}

func allHarnessFields() []string {
	var out []string
	for i, e := range FieldEntries() {
		key := ""
		if e.Arg.IsRequired {
			key = "app"
		}
		out = append(out, harnessField(i, e, key))
	}
	return out
}

func runHarness(t testing.TB, args ...string) string {
	t.Helper()
	return runHarnessEnv(t, nil, args...)
}

// runHarnessEnv is runHarness with more environment variables.
func runHarnessEnv(t testing.TB, env []string, args ...string) string {
	t.Helper()
	so, h := built(t)
	cmd := exec.Command(h, append([]string{so}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("harness %v: %v\nstdout:\n%s\nstderr:\n%s", args[:3], err, out, stderr.String())
	}
	return string(out)
}

// expectedValues renders what the harness must print for one field of ev,
// computed from the event package, independent of the plugin's path
// (encode, C buffers, decode, SetValue).
func expectedValues(e sdk.FieldEntry, ev *event.Event, key string, ms []string) []string {
	name := strings.TrimPrefix(e.Name, FieldPrefix)
	f, ok := event.Lookup(name)
	if !ok {
		return ms
	}
	switch v := f.Value(ev).(type) {
	case string:
		return []string{v}
	case int:
		return []string{strconv.FormatUint(uint64(int64(v)), 10)}
	case bool:
		return []string{strconv.FormatBool(v)}
	case time.Time:
		if v.IsZero() {
			return nil
		}
		return []string{strconv.FormatInt(v.UnixNano(), 10)}
	case []string:
		return v
	case map[string]string:
		if s, ok := v[key]; ok {
			return []string{s}
		}
		return nil
	}
	panic("unhandled kind " + name)
}

func TestHarnessRun(t *testing.T) {
	abs, _ := filepath.Abs(fixture)
	rules, _ := filepath.Abs("testdata/rules.yaml")
	cfg := fmt.Sprintf(`{"rules":[%q],"log_level":"error"}`, rules)
	out := runHarness(t, append([]string{cfg, "replay:" + abs, "run"}, allHarnessFields()...)...)

	// got[evtnum][field] = values
	got := map[int]map[string][]string{}
	var end string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		switch parts[0] {
		case "API":
			if parts[1] != RequiredAPIVersion {
				t.Errorf("required api version %s", parts[1])
			}
		case "INIT":
			if parts[1] != "0" {
				t.Fatalf("init failed: %s", sc.Text())
			}
		case "ERR":
			t.Fatalf("harness: %s", sc.Text())
		case "F":
			n, _ := strconv.Atoi(parts[1])
			if got[n] == nil {
				got[n] = map[string][]string{}
			}
			cnt, _ := strconv.Atoi(parts[3])
			if len(parts)-4 != cnt {
				t.Fatalf("line %q: %d values, res_len %d", sc.Text(), len(parts)-4, cnt)
			}
			got[n][parts[2]] = parts[4:]
		case "END":
			end = parts[1]
		}
	}
	lines := fixtureLines(t)
	if end != strconv.Itoa(len(lines)) || len(got) != len(lines) {
		t.Fatalf("END %s, %d events with fields; want %d", end, len(got), len(lines))
	}
	for i, l := range lines {
		var ev event.Event
		if err := event.UnmarshalJSON(l, &ev); err != nil {
			t.Fatal(err)
		}
		// What testdata/rules.yaml matches: event 9 (sh under java in a
		// container) both rules, event 11 (bash in a container) one.
		var ms []string
		var prio, output string
		var tags []string
		switch i + 1 {
		case 9:
			ms, prio, output, tags = []string{"Shell spawned by JVM", "Shell in container"}, "Critical", "Shell spawned by java (cmd=sh -c id container=web)", []string{"container", "mitre_execution"}
		case 11:
			ms, prio, output, tags = []string{"Shell in container"}, "Notice", "Shell in container (cmd=bash -i)", []string{"container"}
		}
		for _, e := range FieldEntries() {
			key, label := "", e.Name
			if e.Arg.IsRequired {
				key, label = "app", e.Name+"[app]"
			}
			var want []string
			switch e.Name {
			case FieldRule:
				want = ms[:min(1, len(ms))]
			case FieldPriority:
				if ms != nil {
					want = []string{prio}
				}
			case FieldOutput:
				if ms != nil {
					want = []string{output}
				}
			case FieldTags:
				want = tags
			case FieldRules:
				want = ms
			default:
				want = expectedValues(e, &ev, key, nil)
			}
			g := got[i+1][label]
			if strings.Join(g, "\x00") != strings.Join(want, "\x00") {
				t.Errorf("event %d %s = %q, want %q", i+1, label, g, want)
			}
		}
	}
	// Spot checks written out, so a shared mistake in the expectation
	// helper cannot hide one in the plugin.
	spot := []struct {
		evt   int
		field string
		want  string
	}{
		{9, "ruled.proc.name", "sh"},
		{9, "ruled.proc.pid", "20001"},
		{9, "ruled.container.privileged", "true"},
		{9, "ruled.container.labels[app]", "web"},
		{9, "ruled.evt.time", "1795384021500000001"},
		{9, "ruled.rule", "Shell spawned by JVM"},
		{10, "ruled.evt.res", "18446744073709551505"},
		{10, "ruled.evt.success", "false"},
		{11, "ruled.proc.stdin.rport", "4444"},
	}
	for _, s := range spot {
		if g := strings.Join(got[s.evt][s.field], ","); g != s.want {
			t.Errorf("event %d %s = %q, want %q", s.evt, s.field, g, s.want)
		}
	}
}

func TestHarnessInitErrors(t *testing.T) {
	so, h := built(t)
	for _, bad := range []string{`{"audit_mode":"both"}`, `not json`, `{"rules":["/nonexistent.yaml"]}`} {
		out, err := exec.Command(h, so, bad, "-", "init").Output()
		if err == nil || !strings.Contains(string(out), "INIT\t1\tinit config") {
			t.Errorf("init %s: err %v, output %q", bad, err, out)
		}
	}
}

// TestHarnessOpenCloseCycles repeats open/drain/close far more often than
// the SDK's 255 handles: a leaked instance handle would fail an open, and
// RSS must stay flat.
func TestHarnessOpenCloseCycles(t *testing.T) {
	abs, _ := filepath.Abs(fixture)
	const cycles = 300
	// At the plugin's own GOGC (400) the heap is still growing towards its
	// target after 300 cycles; at Go's default it settles early, so that
	// what grows after cycle 50 is a leak.
	out := runHarnessEnv(t, []string{"GOGC=100"},
		append([]string{`{"log_level":"error"}`, "replay:" + abs, "cycles", strconv.Itoa(cycles)}, allHarnessFields()[:5]...)...)
	var rss []int
	for l := range strings.SplitSeq(out, "\n") {
		parts := strings.Split(l, "\t")
		if parts[0] == "ERR" {
			t.Fatalf("harness: %s", l)
		}
		if parts[0] == "RSS" {
			kb, _ := strconv.Atoi(parts[2])
			if parts[3] != "11" {
				t.Fatalf("cycle %s delivered %s events, want 11", parts[1], parts[3])
			}
			rss = append(rss, kb)
		}
	}
	if len(rss) != cycles {
		t.Fatalf("%d cycles ran, want %d", len(rss), cycles)
	}
	// After warm-up (Go heap sizing, thread creation) RSS stays flat.
	if grow := rss[cycles-1] - rss[50]; grow > 8<<10 {
		t.Errorf("RSS grew %d kB between cycle 50 (%d kB) and %d (%d kB)", grow, rss[50], cycles, rss[cycles-1])
	}
	t.Logf("RSS cycle 50: %d kB, cycle %d: %d kB", rss[50], cycles, rss[cycles-1])
}

// BenchmarkHarness measures events/s through plugin_next_batch plus the
// extraction of ten fields per event, over the C ABI.
func BenchmarkHarness(b *testing.B) {
	lines := fixtureLines(b)
	var buf bytes.Buffer
	for buf.Len() < 8<<20 {
		for _, l := range lines {
			buf.Write(l)
			buf.WriteByte('\n')
		}
	}
	path := filepath.Join(b.TempDir(), "bench.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	var fields []string
	for i, e := range FieldEntries() {
		switch e.Name {
		case "ruled.evt.type", "ruled.evt.time", "ruled.evt.success", "ruled.proc.name", "ruled.proc.pid",
			"ruled.proc.cmdline", "ruled.proc.pname", "ruled.proc.args", "ruled.container.id", "ruled.container.labels":
			key := ""
			if e.Arg.IsRequired {
				key = "app"
			}
			fields = append(fields, harnessField(i, e, key))
		}
	}
	if len(fields) != 10 {
		b.Fatalf("%d fields", len(fields))
	}
	var events, secs float64
	for b.Loop() {
		out := runHarness(b, append([]string{`{"log_level":"error"}`, "replay:" + path, "bench", "1"}, fields...)...)
		for l := range strings.SplitSeq(out, "\n") {
			parts := strings.Split(l, "\t")
			if parts[0] == "BENCH" {
				n, _ := strconv.ParseFloat(parts[1], 64)
				s, _ := strconv.ParseFloat(parts[2], 64)
				events += n
				secs += s
			}
		}
	}
	if secs > 0 {
		b.ReportMetric(events/secs, "events/s")
		b.ReportMetric(secs/events*1e9, "ns/event")
	}
}
