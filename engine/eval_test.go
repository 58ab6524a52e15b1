package engine

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
	"testing/fstest"
)

func TestEvalAlert(t *testing.T) {
	e := mustNew(t, Options{Hostname: "node1"}, packFiles(t)...)
	ev := execEvent("sh", "java", "3f1c")
	ev.Container.Image = "app:1"
	alerts := e.Eval(ev)
	if got := alertNames(alerts); !slices.Equal(got, []string{"Shell spawned by JVM"}) {
		t.Fatalf("alerts = %v", got)
	}
	a := alerts[0]
	if a.Output != "Shell spawned by java (cmd=sh -c id parent=<NA> container=web image=app:1)" {
		t.Errorf("output = %q", a.Output)
	}
	if a.Priority != event.PriorityCritical || a.Source != "ruled" || a.Hostname != "node1" || !a.Time.Equal(ev.Evt.Time) || a.Event != ev || !slices.Equal(a.Tags, []string{"container", "process", "mitre_execution"}) {
		t.Errorf("alert = %+v", a)
	}
	for k, want := range map[string]any{"proc.cmdline": "sh -c id", "container.image": "app:1", "evt.type": "execve", "proc.pid": 100, "container.id": "3f1c", "proc.pcmdline": nil} {
		if a.OutputFields[k] != want {
			t.Errorf("output_fields[%s] = %#v, want %#v", k, a.OutputFields[k], want)
		}
	}
	if len(e.Eval(execEvent("ls", "bash", "3f1c"))) != 0 {
		t.Error("benign event alerted")
	}
}

func TestEveryMatchingRuleFires(t *testing.T) {
	e := mustNew(t, Options{}, packFiles(t)...)
	ev := execEvent("bash", "java", "3f1c")
	ev.Proc.TTY = true
	got := names(e.Match(ev))
	want := []string{"Shell spawned by JVM", "Interactive shell in container"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

func TestAlertTimeDefaultsToNow(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := mustNew(t, Options{Now: func() time.Time { return now }}, packFiles(t)...)
	ev := execEvent("nsenter", "", "host")
	ev.Evt.Time = time.Time{}
	a := e.Eval(ev)
	if len(a) != 1 || !a[0].Time.Equal(now) {
		t.Fatalf("alerts = %+v", a)
	}
}

func TestRateLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	e := mustNew(t, Options{Now: clock, RateLimit: RateLimit{Rate: 1, Burst: 3}}, packFiles(t)...)
	ev := execEvent("nsenter", "", "host")
	emitted := 0
	for range 10 {
		emitted += len(e.Eval(ev))
	}
	if emitted != 3 {
		t.Fatalf("emitted %d of 10 in a burst, want 3", emitted)
	}
	now = now.Add(1500 * time.Millisecond) // one token back
	a := e.Eval(ev)
	if len(a) != 1 || a[0].Suppressed != 7 {
		t.Fatalf("after refill: %+v, want one alert carrying Suppressed=7", a)
	}
	if a := e.Eval(ev); len(a) != 0 {
		t.Fatalf("bucket should be empty again: %v", alertNames(a))
	}
	now = now.Add(time.Hour) // refill caps at burst
	emitted = 0
	for range 10 {
		emitted += len(e.Eval(ev))
	}
	if emitted != 3 {
		t.Fatalf("after a long pause emitted %d, want burst 3", emitted)
	}
	st := e.Stats()
	if st.Suppressed != 15 || st.Alerts != 7 || st.Matched != 22 {
		t.Errorf("stats = %v", st)
	}
	var rs RuleStats
	for _, r := range st.Rules {
		if r.Name == "Nsenter" {
			rs = r
		}
	}
	if rs.Evaluated != 22 || rs.Matched != 22 || rs.Suppressed != 15 || rs.Alerts != 7 {
		t.Errorf("rule stats = %+v", rs)
	}
}

func TestRateLimitDisabledAndDefault(t *testing.T) {
	e := mustNew(t, Options{RateLimit: RateLimit{Rate: -1}}, packFiles(t)...)
	n := 0
	for range 500 {
		n += len(e.Eval(execEvent("nsenter", "", "host")))
	}
	if n != 500 {
		t.Errorf("disabled limiter emitted %d of 500", n)
	}
	now := time.Unix(0, 0)
	e = mustNew(t, Options{Now: func() time.Time { return now }}, packFiles(t)...)
	n = 0
	for range 500 {
		n += len(e.Eval(execEvent("nsenter", "", "host")))
	}
	if n != DefaultRateLimit.Burst {
		t.Errorf("default limiter emitted %d of 500, want %d", n, DefaultRateLimit.Burst)
	}
}

func TestStatsEvaluated(t *testing.T) {
	e := mustNew(t, Options{}, packFiles(t)...)
	e.Match(&event.Event{Evt: event.Evt{Type: "open"}})
	e.Match(&event.Event{Evt: event.Evt{Type: "nosuchtype"}})
	st := e.Stats()
	if st.Events != 2 {
		t.Errorf("events = %d", st.Events)
	}
	for _, r := range st.Rules {
		var want uint64
		switch {
		case r.Name == "Read sensitive file":
			want = 1
		case r.Name == "Audit key hit":
			want = 2 // unconstrained: every event
		case r.Name == "Nsenter":
			want = 0
		default:
			continue
		}
		if r.Evaluated != want {
			t.Errorf("%s evaluated %d, want %d", r.Name, r.Evaluated, want)
		}
	}
}

func TestRuntimeErrorCountedAndLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	// Indexing past the end of argv is a runtime error in expr.
	e := mustNew(t, Options{Logger: log}, yamlFile("a.yaml", `- rule: R
  condition: proc.args[5] == "x"
  output: o
  priority: INFO
`))
	for range 3 {
		if m := e.Match(&event.Event{}); len(m) != 0 {
			t.Fatal("error treated as match")
		}
	}
	if st := e.Stats(); st.Errors != 3 {
		t.Errorf("errors = %d, want 3", st.Errors)
	}
	if strings.Count(buf.String(), "rule runtime error") != 1 {
		t.Errorf("log not rate-limited to one line:\n%s", buf.String())
	}
}

func TestEvalConcurrent(t *testing.T) {
	e := mustNew(t, Options{RateLimit: RateLimit{Rate: -1}}, packFiles(t)...)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				var ev *event.Event
				if (g+i)%2 == 0 {
					ev = execEvent("sh", "java", "c")
				} else {
					ev = execEvent("ls", "bash", "c")
				}
				a := e.Eval(ev)
				want := 0
				if (g+i)%2 == 0 {
					want = 1
				}
				if len(a) != want {
					t.Errorf("goroutine %d: %v", g, alertNames(a))
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := e.Stats(); st.Events != 4000 || st.Alerts != 2000 {
		t.Errorf("stats = %v", st)
	}
}

func TestFilter(t *testing.T) {
	e := mustNew(t, Options{}, packFiles(t)...)
	cases := []struct {
		name string
		cond string
		eng  *Engine
		ev   *event.Event
		want bool
	}{
		{"plain", `proc.name == "sh"`, nil, execEvent("sh", "", ""), true},
		{"plain no", `proc.name == "sh"`, nil, execEvent("ls", "", ""), false},
		{"macro and list from engine", `spawned_process and proc.name in shell_binaries`, e, execEvent("bash", "", ""), true},
		{"label", `container.labels["a"] == "b"`, nil, &event.Event{Container: event.Container{Labels: map[string]string{"a": "b"}}}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := CompileFilter(c.cond, c.eng)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(c.ev); got != c.want {
				t.Errorf("Match = %v", got)
			}
		})
	}
	for cond, want := range map[string]string{
		`spawned_process`: "condition: unknown field, macro or list spawned_process (1:1)",
		`proc.nme == "x"`: "condition: unknown field proc.nme (1:6)",
		`proc.pid == "x"`: "condition: invalid operation: == (mismatched types int and string) (1:10)",
		`evt.type == `:    "condition: unexpected token EOF (1:12)",
	} {
		if _, err := CompileFilter(cond, nil); err == nil || err.Error() != want {
			t.Errorf("CompileFilter(%q) = %v, want %s", cond, err, want)
		}
	}
}

func TestReadPaths(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.yaml", "a.yml", "c.txt", "z.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("# "+n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(dir, "c.txt")
	builtin := fstest.MapFS{"y.yaml": {Data: []byte("y")}, "x.yaml": {Data: []byte("x")}, "n.md": {Data: []byte("n")}}
	files, err := ReadPaths([]string{"builtin", dir, single}, builtin)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f.Name))
	}
	want := []string{"x.yaml", "y.yaml", "a.yml", "b.yaml", "z.yaml", "c.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	if files[0].Name != "builtin/x.yaml" || string(files[0].Data) != "x" {
		t.Errorf("builtin file = %+v", files[0])
	}
	_, err = ReadPaths([]string{filepath.Join(dir, "missing.yaml")}, builtin)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path error = %v", err)
	}
}
