package rules_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/engine/ruletest"
	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/event"
)

func loadPack(t testing.TB, extra ...string) *engine.Engine {
	t.Helper()
	files, err := engine.ReadPaths(append([]string{engine.Builtin}, extra...), rules.Pack)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(files, engine.Options{RateLimit: engine.RateLimit{Rate: -1}})
	if err != nil {
		t.Fatalf("load pack:\n%v", err)
	}
	return e
}

// runFiles runs the cases of the test files or directories against e with
// the shared runner `ruled test` uses, and returns the rules that some case
// expected to fire.
func runFiles(t *testing.T, e *engine.Engine, paths ...string) map[string]bool {
	t.Helper()
	cases, err := ruletest.ReadFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("no test cases in %v", paths)
	}
	for _, msg := range ruletest.UnknownExpectations(e, cases) {
		t.Error(msg)
	}
	res := ruletest.Run(e, cases)
	for _, f := range res.Failures {
		t.Errorf("%s", f)
	}
	fired := map[string]bool{}
	for _, c := range cases {
		for _, r := range c.Expect {
			fired[r] = true
		}
	}
	t.Logf("%d passed, %d failed", res.Passed, res.Failed)
	return fired
}

// TestPack runs every rules/tests/*.yaml file against the default pack and
// checks that every enabled rule has at least one positive case.
func TestPack(t *testing.T) {
	e := loadPack(t)
	covered := runFiles(t, e, "tests")
	for _, r := range e.Rules() {
		if !covered[r.Name] {
			t.Errorf("rule %q has no positive test case", r.Name)
		}
	}
}

// TestLocalTuning loads tests/tuning/local.yaml after the pack, as an operator's
// local file would be, and runs tests/tuning/tests.yaml against the result.
func TestLocalTuning(t *testing.T) {
	e := loadPack(t, filepath.Join("tests", "tuning", "local.yaml"))
	runFiles(t, e, filepath.Join("tests", "tuning", "tests.yaml"))
}

// TestZeroEvents evaluates every rule against the zero Event of every
// evt.type (and with container and stdio parts set, so rules get past their
// first tests) and fails on any runtime error: a condition that indexes an
// empty slice or compares mismatched types would otherwise silently never match.
func TestZeroEvents(t *testing.T) {
	e := loadPack(t)
	variants := []func(*event.Event){
		func(*event.Event) {},
		func(ev *event.Event) { ev.Container.ID = event.HostID },
		func(ev *event.Event) {
			ev.Evt.Success = true
			ev.Container.ID = strings.Repeat("ab", 32)
			ev.Container.Privileged = true
			ev.File.Write = true
			ev.Proc.TTY = true
			ev.Proc.ExeUpperLayer = true
			ev.Proc.Stdin = event.Stdio{Type: event.StdioSocket, L4Proto: "tcp"}
			ev.Proc.Stdout = event.Stdio{Type: event.StdioSocket, L4Proto: "tcp"}
		},
	}
	for _, typ := range event.Types {
		for i, set := range variants {
			ev := event.Event{}
			ev.Evt.Type = typ
			set(&ev)
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s variant %d: panic: %v", typ, i, p)
					}
				}()
				e.Eval(&ev)
			}()
		}
	}
	for _, rs := range e.Stats().Rules {
		if rs.Errors > 0 {
			t.Errorf("rule %q: %d runtime errors on zero events", rs.Name, rs.Errors)
		}
	}
}

// TestRulesShape checks what every shipped rule must carry: a description,
// an output naming the container, a MITRE tag and an evt.type constraint the
// engine can index.
func TestRulesShape(t *testing.T) {
	e := loadPack(t)
	if len(e.Rules()) < 30 {
		t.Errorf("pack has %d rules, want at least 30", len(e.Rules()))
	}
	for _, r := range e.Rules() {
		var problems []string
		if len(r.Desc) < 40 {
			problems = append(problems, "short desc")
		}
		if strings.HasSuffix(r.Output, "\n") || strings.HasSuffix(r.Desc, "\n") {
			problems = append(problems, "desc or output ends in a newline (use >- in YAML)")
		}
		if !strings.Contains(r.Output, "%proc.cmdline") {
			problems = append(problems, "output lacks %proc.cmdline")
		}
		if !slices.ContainsFunc(r.Tags, func(s string) bool { return strings.HasPrefix(s, "mitre_") }) ||
			!slices.ContainsFunc(r.Tags, func(s string) bool { return strings.HasPrefix(s, "T") }) {
			problems = append(problems, fmt.Sprintf("tags %v lack mitre_* and a technique id", r.Tags))
		}
		if len(r.Types) == 0 {
			problems = append(problems, "condition does not constrain evt.type")
		}
		if len(problems) > 0 {
			t.Errorf("%s:%d: rule %q: %s", r.File, r.Line, r.Name, strings.Join(problems, "; "))
		}
	}
}

func BenchmarkPackExecve(b *testing.B) {
	e := loadPack(b)
	ev := &event.Event{
		Evt:       event.Evt{Type: event.TypeExecve, Success: true},
		Proc:      event.Proc{Name: "ls", Exe: "/bin/ls", Cmdline: "ls -l", Args: []string{"ls", "-l"}, PName: "bash", ANames: []string{"bash", "sshd", "systemd"}, Stdin: event.Stdio{Type: event.StdioTTY}},
		Container: event.Container{ID: strings.Repeat("ab", 32)},
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Match(ev)
	}
}

func BenchmarkPackOpen(b *testing.B) {
	e := loadPack(b)
	ev := &event.Event{
		Evt:       event.Evt{Type: event.TypeOpen, Success: true},
		Proc:      event.Proc{Name: "nginx", Exe: "/usr/sbin/nginx", ANames: []string{"nginx", "containerd-shim"}},
		Container: event.Container{ID: strings.Repeat("ab", 32)},
		File:      event.File{Path: "/var/log/nginx/access.log", Write: true},
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Match(ev)
	}
}

// FuzzPack feeds arbitrary strings into the fields the pack's conditions
// index, slice and match on; no rule may fail at run time.
func FuzzPack(f *testing.F) {
	f.Add("execve", "sh", "/bin/sh", "sh -c id", "java", "/etc/shadow", "/var/run/docker.sock", "10.0.0.1")
	f.Add("open", "", "", "", "", "/", "", "")
	f.Add("connect", "xmrig", "/dev/shm/x", "", "nginx", "/root/.ssh/id_rsa", "stratum+tcp://x", "::1")
	e := loadPack(f)
	f.Fuzz(func(t *testing.T, typ, name, exe, arg, pname, path, fdname, rip string) {
		ev := &event.Event{
			Evt:       event.Evt{Type: typ, Success: true},
			Proc:      event.Proc{Name: name, Exe: exe, Cmdline: arg, Args: strings.Fields(arg), PName: pname, ANames: []string{pname, name}, Cwd: path},
			Container: event.Container{ID: strings.Repeat("ab", 32), Privileged: true},
			FD:        event.FD{Type: event.FDUnix, Name: fdname, RIP: rip, RPort: 3333, L4Proto: "tcp"},
			File:      event.File{Path: path, Target: fdname, Write: len(path)%2 == 0},
		}
		before := e.Stats().Errors
		e.Match(ev)
		if after := e.Stats().Errors; after != before {
			t.Fatalf("runtime error on %+v", ev)
		}
	})
}

// TestRealCapture replays events recorded from this kernel's audit stream
// (testdata/capture.jsonl: `ruled events -replay` of the audit source's
// real capture: a shadow read, memfd_create, ptrace, unshare, nsenter, a
// tmpfs mount, writes below /etc, docker CLI calls over the socket) through
// the pack: once as recorded (host processes) and once as if the same
// processes ran in a container, and checks how often each rule fires.
func TestRealCapture(t *testing.T) {
	e := loadPack(t)
	f, err := os.Open(filepath.Join("testdata", "capture.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []*event.Event
	if err := event.ReadJSONLines(f, "capture.jsonl", func(ev *event.Event) error {
		evs = append(evs, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	count := func(container string) map[string]int {
		got := map[string]int{}
		for _, ev := range evs {
			c := *ev
			c.Container.ID = container
			for _, r := range e.Match(&c) {
				got[r.Name]++
			}
		}
		return got
	}
	cases := []struct {
		name      string
		container string
		want      map[string]int
	}{
		{"as recorded", "", map[string]int{
			"Read sensitive file untrusted": 1,
			"PTRACE anti-debug attempt":     1, // ptrace(PTRACE_TRACEME)
		}},
		{"on the host", event.HostID, map[string]int{
			"Read sensitive file untrusted": 1,
			"PTRACE anti-debug attempt":     1, // ptrace(PTRACE_TRACEME)
		}},
		{"in a container", strings.Repeat("3f", 32), map[string]int{
			"Read sensitive file untrusted":                    1,
			"PTRACE anti-debug attempt":                        1,
			"Write below etc":                                  1,
			"Memory-backed file created in container":          1,
			"Container runtime socket accessed from container": 6,
			"The docker client is executed in a container":     3,
			"Namespace tool launched in container":             3,
			"Change namespace privileges via unshare":          2,
			"Change thread namespace":                          1,
			"Mount or pivot_root in container":                 3,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := count(tc.container); !maps.Equal(got, tc.want) {
				t.Errorf("rules fired %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestFalcoUpstream runs tests/falco/upstream.yaml against Falco's own
// stable and incubating rule files, unedited, read from ../shared (the
// repository carries no copy): ruled gives their rules Falco's meaning.
func TestFalcoUpstream(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "falco-rules")
	var files []engine.File
	for _, n := range []string{"falco_rules.yaml", "falco-incubating_rules.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("Falco's upstream rules: %v (CI=true: ../shared/falco-rules must be there)", err)
			}
			t.Skipf("Falco's upstream rules not found: %v", err)
		}
		files = append(files, engine.File{Name: n, Data: b})
	}
	e, err := engine.New(files, engine.Options{RateLimit: engine.RateLimit{Rate: -1}})
	if err != nil {
		t.Fatal(err)
	}
	fired := runFiles(t, e, filepath.Join("tests", "falco", "upstream.yaml"))
	if len(fired) < 10 {
		t.Errorf("%d upstream rules have a firing case, want at least 10", len(fired))
	}
}
