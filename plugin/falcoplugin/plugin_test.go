package falcoplugin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/event"
)

const fixture = "testdata/events.jsonl"

// fixtureLines returns the event lines of the fixture (comments dropped).
func fixtureLines(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for l := range bytes.SplitSeq(b, []byte("\n")) {
		if len(l) > 0 && l[0] != '#' {
			out = append(out, l)
		}
	}
	return out
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Config
		wantErr string
	}{
		{name: "empty is defaults", in: "", want: Config{Sources: DefaultSources, AuditMode: "multicast", LogLevel: "info"}},
		{name: "empty object", in: "{}", want: Config{Sources: DefaultSources, AuditMode: "multicast", LogLevel: "info"}},
		// Falco's rendering of init_config: {} (an empty YAML map).
		{name: "null", in: "null", want: Config{Sources: DefaultSources, AuditMode: "multicast", LogLevel: "info"}},
		{name: "full", in: `{"rules":["builtin","/etc/ruled/local.yaml"],"sources":"procconn","audit_mode":"unicast","rate_limit":5,"log_level":"debug"}`,
			want: Config{Rules: []string{"builtin", "/etc/ruled/local.yaml"}, Sources: "procconn", AuditMode: "unicast", RateLimit: 5, LogLevel: "debug"}},
		{name: "unknown key", in: `{"rule":["builtin"]}`, wantErr: `unknown field "rule"`},
		{name: "not json", in: `rules: builtin`, wantErr: "init config"},
		{name: "bad audit mode", in: `{"audit_mode":"both"}`, wantErr: `audit_mode "both"`},
		{name: "bad source", in: `{"sources":"ebpf"}`, wantErr: `unknown source "ebpf"`},
		{name: "negative rate", in: `{"rate_limit":-1}`, wantErr: "rate_limit"},
		{name: "bad level", in: `{"log_level":"loud"}`, wantErr: `log_level "loud"`},
		{name: "empty rules entry", in: `{"rules":[""]}`, wantErr: "rules[0] is empty"},
		{name: "rules not a list", in: `{"rules":"builtin"}`, wantErr: "cannot unmarshal"},
		{name: "trailing data", in: `{} {}`, wantErr: "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseOpenParams(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    OpenSpec
		wantErr string
	}{
		{name: "empty uses default", in: "", want: OpenSpec{Sources: []string{"audit", "procconn"}}},
		{name: "one", in: "procconn", want: OpenSpec{Sources: []string{"procconn"}}},
		{name: "list with spaces and dup", in: " procconn , audit,procconn", want: OpenSpec{Sources: []string{"procconn", "audit"}}},
		{name: "replay", in: "replay:/tmp/x.jsonl", want: OpenSpec{Replay: "/tmp/x.jsonl"}},
		{name: "replay without path", in: "replay:", wantErr: "needs a path"},
		{name: "unknown", in: "audit,kprobe", wantErr: `unknown source "kprobe"`},
		{name: "only commas", in: ",,", wantErr: "no source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOpenParams(tt.in, DefaultSources)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFieldEntries(t *testing.T) {
	entries := FieldEntries()
	byName := map[string]sdk.FieldEntry{}
	for _, e := range entries {
		if _, dup := byName[e.Name]; dup {
			t.Errorf("duplicate field %s", e.Name)
		}
		byName[e.Name] = e
	}
	wantType := map[event.Kind]string{
		event.KindString: "string", event.KindInt: "uint64", event.KindBool: "bool",
		event.KindTime: "abstime", event.KindStrings: "string", event.KindMap: "string",
	}
	for _, f := range event.Fields() {
		e, ok := byName["ruled."+f.Name]
		if !ok {
			t.Errorf("event field %s has no plugin field", f.Name)
			continue
		}
		if e.Type != wantType[f.Kind] {
			t.Errorf("%s: type %s, want %s", e.Name, e.Type, wantType[f.Kind])
		}
		if e.IsList != (f.Kind == event.KindStrings) {
			t.Errorf("%s: IsList %v", e.Name, e.IsList)
		}
		if (f.Kind == event.KindMap) != (e.Arg.IsKey && e.Arg.IsRequired) {
			t.Errorf("%s: arg %+v", e.Name, e.Arg)
		}
		if e.Desc == "" {
			t.Errorf("%s: no description", e.Name)
		}
	}
	for _, n := range []string{FieldRule, FieldPriority, FieldOutput, FieldTags, FieldRules} {
		if _, ok := byName[n]; !ok {
			t.Errorf("rule field %s missing", n)
		}
	}
	if len(entries) != len(event.Fields())+5 {
		t.Errorf("%d fields, want %d", len(entries), len(event.Fields())+5)
	}
}

func initPlugin(t testing.TB, config string) *Plugin {
	t.Helper()
	p := New("1.2.3")
	if err := p.Init(config); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Destroy)
	return p
}

// extract runs one request on line as event num and returns what was set.
func extract(t *testing.T, p *Plugin, r *fakeReader, name, key string) (any, bool) {
	t.Helper()
	req := newRequest(name, key)
	if err := p.Extract(req, r); err != nil {
		t.Fatalf("extract %s: %v", name, err)
	}
	return req.value, req.set
}

// TestExtractEveryKind runs on both payload encodings: the binary one
// next_batch writes, and the JSON lines of captures from older plugins.
func TestExtractEveryKind(t *testing.T) {
	for _, enc := range []string{"binary", "json"} {
		t.Run(enc, func(t *testing.T) { testExtractEveryKind(t, enc == "binary") })
	}
}

func testExtractEveryKind(t *testing.T, binary bool) {
	p := initPlugin(t, "")
	lines := fixtureLines(t)
	if binary {
		lines = binaryPayloads(t, lines)
	}
	container := &fakeReader{num: 9, data: lines[8]}
	connect := &fakeReader{num: 10, data: lines[9]}
	shell := &fakeReader{num: 11, data: lines[10]}
	tests := []struct {
		name   string
		r      *fakeReader
		field  string
		key    string
		want   any
		absent bool
	}{
		{name: "string", r: container, field: "ruled.proc.name", want: "sh"},
		{name: "string parent", r: container, field: "ruled.proc.pname", want: "java"},
		{name: "uint64", r: container, field: "ruled.proc.pid", want: uint64(20001)},
		{name: "uint64 big", r: container, field: "ruled.proc.auid", want: uint64(4294967295)},
		{name: "negative as two's complement", r: connect, field: "ruled.evt.res", want: uint64(0xffffffffffffff91)},
		{name: "bool true", r: container, field: "ruled.container.privileged", want: true},
		{name: "bool false", r: connect, field: "ruled.evt.success", want: false},
		{name: "abstime", r: container, field: "ruled.evt.time", want: time.Date(2026, 11, 22, 21, 47, 1, 500000001, time.UTC)},
		{name: "list", r: container, field: "ruled.proc.args", want: []string{"sh", "-c", "id"}},
		{name: "list ancestors", r: container, field: "ruled.proc.anames", want: []string{"java", "containerd-shim", "systemd"}},
		{name: "empty list", r: connect, field: "ruled.evt.keys", want: []string(nil)},
		{name: "map key", r: container, field: "ruled.container.labels", key: "app", want: "web"},
		{name: "map dotted key", r: container, field: "ruled.container.labels", key: "io.kubernetes.pod.name", want: "web-0"},
		{name: "map missing key", r: container, field: "ruled.container.labels", key: "nope", absent: true},
		{name: "nested stdio", r: shell, field: "ruled.proc.stdin.type", want: "socket"},
		{name: "stdio port", r: shell, field: "ruled.proc.stdin.rport", want: uint64(4444)},
		{name: "fd name", r: connect, field: "ruled.fd.name", want: "127.0.0.1:40000->127.0.0.1:9"},
		{name: "empty string", r: connect, field: "ruled.container.name", want: ""},
		{name: "k8s", r: container, field: "ruled.k8s.ns.name", want: "prod"},
		{name: "file bool", r: shell, field: "ruled.file.write", want: true},
		{name: "no rules configured", r: container, field: FieldRule, absent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, set := extract(t, p, tt.r, tt.field, tt.key)
			if tt.absent {
				if set {
					t.Fatalf("got %v, want no value", got)
				}
				return
			}
			if !set {
				t.Fatal("no value set")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestExtractErrors(t *testing.T) {
	p := initPlugin(t, "")
	lines := fixtureLines(t)
	t.Run("map without key", func(t *testing.T) {
		err := p.Extract(newRequest("ruled.container.labels", ""), &fakeReader{num: 1, data: lines[8]})
		if err == nil || !strings.Contains(err.Error(), "needs a key") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		req := newRequest("ruled.proc.name", "")
		req.id = 100000
		if err := p.Extract(req, &fakeReader{num: 2, data: lines[0]}); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("garbage event", func(t *testing.T) {
		err := p.Extract(newRequest("ruled.proc.name", ""), &fakeReader{num: 3, data: []byte("{not json")})
		if err == nil || !strings.Contains(err.Error(), "decode event 3") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty event", func(t *testing.T) {
		if err := p.Extract(newRequest("ruled.proc.name", ""), &fakeReader{num: 4}); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestExtractDecodesOncePerEvent(t *testing.T) {
	p := initPlugin(t, "")
	lines := fixtureLines(t)
	r := &fakeReader{num: 42, data: lines[8]}
	for _, f := range []string{"ruled.proc.name", "ruled.proc.pid", "ruled.proc.args", "ruled.evt.type"} {
		extract(t, p, r, f, "")
	}
	if r.reads != 1 {
		t.Errorf("event read %d times, want 1", r.reads)
	}
	// A new event number decodes afresh: nothing of the previous event
	// (labels, args) leaks into it.
	r2 := &fakeReader{num: 43, data: lines[0]}
	if got, _ := extract(t, p, r2, "ruled.proc.args", ""); got != nil && len(got.([]string)) != 0 {
		t.Errorf("args leaked from previous event: %v", got)
	}
	if _, set := extract(t, p, r2, "ruled.container.labels", "app"); set {
		t.Error("label leaked from previous event")
	}
}

type fakeMatcher struct {
	calls int
	fn    func(ev *event.Event) []Match
}

func (m *fakeMatcher) Match(ev *event.Event) []Match { m.calls++; return m.fn(ev) }

func TestRuleFields(t *testing.T) {
	p := initPlugin(t, "")
	m := &fakeMatcher{fn: func(ev *event.Event) []Match {
		if ev.Proc.Name != "sh" {
			return nil
		}
		return []Match{
			{Rule: "Shell spawned by JVM", Priority: event.PriorityCritical, Tags: []string{"container", "mitre_execution"}, Output: "Shell spawned by java (cmd=" + ev.Proc.Cmdline + ")"},
			{Rule: "Drift", Priority: event.PriorityError},
		}
	}}
	p.SetMatcher(m)
	lines := fixtureLines(t)
	hit := &fakeReader{num: 1, data: lines[8]}
	tests := []struct {
		field string
		want  any
	}{
		{FieldRule, "Shell spawned by JVM"},
		{FieldPriority, "Critical"},
		{FieldOutput, "Shell spawned by java (cmd=sh -c id)"},
		{FieldTags, []string{"container", "mitre_execution"}},
		{FieldRules, []string{"Shell spawned by JVM", "Drift"}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			got, set := extract(t, p, hit, tt.field, "")
			if !set || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v (set %v), want %#v", got, set, tt.want)
			}
		})
	}
	if m.calls != 1 {
		t.Errorf("matcher ran %d times for one event, want 1", m.calls)
	}
	miss := &fakeReader{num: 2, data: lines[9]}
	for _, f := range []string{FieldRule, FieldPriority, FieldOutput, FieldTags, FieldRules} {
		if got, set := extract(t, p, miss, f, ""); set {
			t.Errorf("%s on a non-matching event = %v, want no value", f, got)
		}
	}
}

func TestPanicsBecomeErrors(t *testing.T) {
	p := initPlugin(t, "")
	p.SetMatcher(&fakeMatcher{fn: func(*event.Event) []Match { panic("boom") }})
	err := p.Extract(newRequest(FieldRule, ""), &fakeReader{num: 1, data: fixtureLines(t)[8]})
	if err == nil || !strings.Contains(err.Error(), "recovered panic: boom") {
		t.Fatalf("err = %v", err)
	}

	old := OpenLive
	t.Cleanup(func() { OpenLive = old })
	OpenLive = func([]string, Config, *slog.Logger) ([]sources.Source, error) { panic("open boom") }
	if _, err := p.Open("procconn"); err == nil || !strings.Contains(err.Error(), "open boom") {
		t.Fatalf("open err = %v", err)
	}
}

func TestInitErrors(t *testing.T) {
	tests := []struct{ name, config, wantErr string }{
		{"bad json", "{", "init config"},
		{"missing rules file", `{"rules":["/nonexistent/ruled.yaml"]}`, "/nonexistent/ruled.yaml"},
		{"bad rules file", `{"rules":["testdata/bad_rules.yaml"]}`, "bad_rules.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := New("").Init(tt.config)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1.2.3", "1.2.3"}, {"v0.4.0", "0.4.0"}, {"v0.1.0-3-gabcdef", "0.1.0-3-gabcdef"},
		{"abc1234-dirty", BaseVersion + "+abc1234-dirty"}, {"", BaseVersion},
	}
	for _, tt := range tests {
		if got := New(tt.in).Info().Version; got != tt.want {
			t.Errorf("version %q -> %q, want %q", tt.in, got, tt.want)
		}
	}
	i := New("1.0.0").Info()
	if i.ID == 999 || i.ID == 0 || i.ID <= 15 || i.Name != "ruled" || i.EventSource != "ruled" {
		t.Errorf("info %+v", i)
	}
}

// drain runs NextBatch until EOF and returns the encoded events.
func drain(t *testing.T, p *Plugin, inst sdk.NextBatcher, batch int) ([][]byte, []uint64) {
	t.Helper()
	w := newWriters(batch, int(sdk.DefaultEvtSize))
	var out [][]byte
	var ts []uint64
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, err := inst.NextBatch(p, w)
		for i := range n {
			out = append(out, bytes.Clone(w.ws[i].buf.Bytes()))
			ts = append(ts, w.ws[i].ts)
		}
		switch {
		case errors.Is(err, sdk.ErrEOF):
			return out, ts
		case errors.Is(err, sdk.ErrTimeout), err == nil:
		default:
			t.Fatalf("next batch: %v", err)
		}
	}
	t.Fatal("no EOF")
	return nil, nil
}

func TestReplayInstance(t *testing.T) {
	p := initPlugin(t, "")
	abs, _ := filepath.Abs(fixture)
	before := LiveInstances()
	inst, err := p.Open("replay:" + abs)
	if err != nil {
		t.Fatal(err)
	}
	got, ts := drain(t, p, inst, 4)
	inst.(*Instance).Close()
	if LiveInstances() != before {
		t.Errorf("live instances %d after close, want %d", LiveInstances(), before)
	}
	want := fixtureLines(t)
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		var a, b event.Event
		if err := event.UnmarshalJSON(want[i], &a); err != nil {
			t.Fatal(err)
		}
		if got[i][0] != payloadMagic {
			t.Fatalf("event %d: payload %q is not the binary encoding", i, got[i])
		}
		if err := decodePayload(got[i], &b); err != nil {
			t.Fatalf("event %d does not decode: %v", i, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("event %d round trip:\n got %+v\nwant %+v", i, b, a)
		}
		if ts[i] != uint64(a.Evt.Time.UnixNano()) {
			t.Errorf("event %d timestamp %d, want %d", i, ts[i], a.Evt.Time.UnixNano())
		}
	}
	// String shows the JSON line.
	s, err := p.String(&fakeReader{data: got[0]})
	if err != nil || !strings.HasPrefix(s, `{"evt":{"type":"fork"`) {
		t.Errorf("String = %q, %v", s, err)
	}
}

func TestOpenErrors(t *testing.T) {
	p := initPlugin(t, "")
	for _, params := range []string{"replay:/nonexistent/x.jsonl", "kprobe", "replay:"} {
		if _, err := p.Open(params); err == nil {
			t.Errorf("open %q: no error", params)
		}
	}
}

// TestReplayBadLineIsError: the replay reads past a bad line (the event
// after it is delivered), then ends the capture with an error naming it.
func TestReplayBadLineIsError(t *testing.T) {
	p := initPlugin(t, "")
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	lines := fixtureLines(t)
	data := append(append(bytes.Clone(lines[0]), '\n'), []byte("{\"evt\":{\"typo\":1}}\n")...)
	data = append(append(data, lines[1]...), '\n')
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	inst, err := p.Open("replay:" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.(*Instance).Close()
	w := newWriters(8, 0)
	var n int
	var lastErr error
	for range 200 {
		k, err := inst.NextBatch(p, w)
		n += k
		if err != nil && !errors.Is(err, sdk.ErrTimeout) {
			lastErr = err
			break
		}
	}
	if n != 2 || lastErr == nil || errors.Is(lastErr, sdk.ErrEOF) || !strings.Contains(lastErr.Error(), "bad.jsonl:2") ||
		!strings.Contains(lastErr.Error(), "1 bad line skipped") {
		t.Fatalf("events %d, err %v: want 2 events then an error naming bad.jsonl:2", n, lastErr)
	}
}

// liveSource emits count events then blocks until cancelled, like a kernel
// source.
type liveSource struct{ count int }

func (s *liveSource) Name() string { return "fake" }
func (s *liveSource) Run(ctx context.Context, emit func(*event.Event)) error {
	for i := range s.count {
		emit(&event.Event{Evt: event.Evt{Type: "execve", Time: time.Unix(0, int64(i+1))}, Proc: event.Proc{PID: i}})
	}
	<-ctx.Done()
	return nil
}

func TestLiveInstanceDropsWhenFullAndCloses(t *testing.T) {
	p := initPlugin(t, "")
	old := OpenLive
	t.Cleanup(func() { OpenLive = old })
	OpenLive = func(names []string, cfg Config, _ *slog.Logger) ([]sources.Source, error) {
		if cfg.AuditMode != "multicast" {
			return nil, fmt.Errorf("audit mode %q, want multicast by default", cfg.AuditMode)
		}
		return []sources.Source{&liveSource{count: QueueSize + 100}}, nil
	}
	before := LiveInstances()
	si, err := p.Open("audit")
	if err != nil {
		t.Fatal(err)
	}
	inst := si.(*Instance)
	// Wait until the source has emitted everything (it then blocks).
	deadline := time.Now().Add(5 * time.Second)
	for inst.dropped.Load() < 100 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := inst.dropped.Load(); got != 100 {
		t.Errorf("dropped %d, want 100", got)
	}
	w := newWriters(int(sdk.DefaultBatchSize), 0)
	n, err := inst.NextBatch(p, w)
	if err != nil || n != int(sdk.DefaultBatchSize) {
		t.Fatalf("batch %d, %v", n, err)
	}
	var first event.Event
	if err := decodePayload(w.ws[0].buf.Bytes(), &first); err != nil || first.Proc.PID != 0 || first.Evt.Type != event.TypeExecve {
		t.Errorf("first event delivered: %+v, %v", first, err)
	}
	inst.Close()
	if LiveInstances() != before {
		t.Errorf("live instances %d, want %d", LiveInstances(), before)
	}
}

func TestOversizedEventCounted(t *testing.T) {
	in := startInstance([]sourceRunner{{src: &liveSource{count: 3}}}, true, nil)
	defer in.Close()
	w := newWriters(8, 10) // every event is larger than 10 bytes
	var n int
	for range 5 {
		k, _ := in.NextBatch(nil, w)
		n += k
	}
	if n != 0 || in.oversized.Load() != 3 {
		t.Errorf("delivered %d, oversized %d; want 0 and 3", n, in.oversized.Load())
	}
}

func FuzzExtract(f *testing.F) {
	s := bufio.NewScanner(strings.NewReader(`{"evt":{"type":"x"}}`))
	for s.Scan() {
		f.Add(s.Bytes())
	}
	b, _ := os.ReadFile(fixture)
	for l := range bytes.SplitSeq(b, []byte("\n")) {
		f.Add(l)
	}
	p := New("")
	if err := p.Init(""); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fakeReader{num: 1, data: data}
		p.cached = false
		for _, e := range FieldEntries() {
			key := ""
			if e.Arg.IsRequired {
				key = "app"
			}
			_ = p.Extract(newRequest(e.Name, key), r)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"", "{}", `{"rules":["builtin"],"audit_mode":"auto"}`, `{"rate_limit":1e309}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfig(s)
		if err == nil && (c.Sources == "" || c.AuditMode == "" || c.LogLevel == "") {
			t.Fatalf("accepted config without defaults: %+v", c)
		}
	})
}

func FuzzParseOpenParams(f *testing.F) {
	for _, s := range []string{"", "audit", "replay:/x", "audit,procconn"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseOpenParams(s, DefaultSources)
		if err == nil && spec.Replay == "" && len(spec.Sources) == 0 {
			t.Fatal("accepted params that open nothing")
		}
	})
}

// The default pack loads inside the plugin and matches like standalone:
// the JVM shell fixture event fires "Shell spawned by JVM".
func TestBuiltinRules(t *testing.T) {
	p := initPlugin(t, `{"rules":["builtin"],"log_level":"error"}`)
	lines := fixtureLines(t)
	got, set := extract(t, p, &fakeReader{num: 1, data: lines[8]}, FieldRules, "")
	if !set || !slices.Contains(got.([]string), "Shell spawned by JVM") {
		t.Fatalf("rules = %v, want to contain Shell spawned by JVM", got)
	}
	if _, set := extract(t, p, &fakeReader{num: 2, data: lines[0]}, FieldRule, ""); set {
		t.Error("a plain fork matched a rule")
	}
}

// replay: also reads auditd logs (auto-detected by sources/sensors/replay).
func TestReplayAuditLog(t *testing.T) {
	p := initPlugin(t, `{"log_level":"error"}`)
	abs, _ := filepath.Abs("../../sources/sensors/replay/testdata/audit.log")
	inst, err := p.Open("replay:" + abs)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.(*Instance).Close()
	got, _ := drain(t, p, inst, 16)
	if len(got) == 0 {
		t.Fatal("no events from the audit log")
	}
	var ev event.Event
	if err := decodePayload(got[0], &ev); err != nil || ev.Evt.Type == "" {
		t.Fatalf("first event %s: %v", got[0], err)
	}
}
