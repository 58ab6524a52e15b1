package rules_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/event"
)

// ruleTest is one case of a rules/tests file: an event and exactly the rules
// expected to match it.
type ruleTest struct {
	Name   string         `yaml:"name"`
	Event  map[string]any `yaml:"event"`
	Expect []string       `yaml:"expect"`
	line   int
}

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

func readTests(t *testing.T, path string) []ruleTest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.SequenceNode {
		t.Fatalf("%s: want a list of tests", path)
	}
	var tests []ruleTest
	seen := map[string]bool{}
	for _, n := range doc.Content[0].Content {
		var tc ruleTest
		if err := n.Decode(&tc); err != nil {
			t.Fatalf("%s:%d: %v", path, n.Line, err)
		}
		tc.line = n.Line
		if tc.Name == "" || tc.Event == nil || tc.Expect == nil {
			t.Fatalf("%s:%d: a test needs name, event and expect (use [] for none)", path, n.Line)
		}
		if seen[tc.Name] {
			t.Fatalf("%s:%d: duplicate test name %q", path, n.Line, tc.Name)
		}
		seen[tc.Name] = true
		tests = append(tests, tc)
	}
	return tests
}

// decodeEvent turns the YAML event into an Event through the strict JSON
// decoder, so a misspelled field fails the test instead of being ignored.
func decodeEvent(m map[string]any) (*event.Event, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var ev event.Event
	if err := event.UnmarshalJSON(b, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// runFile runs every case of one test file against e and returns the rules
// that some case expected to fire.
func runFile(t *testing.T, e *engine.Engine, path string) map[string]bool {
	fired := map[string]bool{}
	for _, tc := range readTests(t, path) {
		for _, r := range tc.Expect {
			fired[r] = true
		}
		t.Run(tc.Name, func(t *testing.T) {
			ev, err := decodeEvent(tc.Event)
			if err != nil {
				t.Fatalf("%s:%d: event: %v", path, tc.line, err)
			}
			var got []string
			for _, r := range e.Match(ev) {
				got = append(got, r.Name)
			}
			want := slices.Clone(tc.Expect)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s:%d: fired %q, want %q", path, tc.line, got, want)
			}
		})
	}
	return fired
}

// TestPack runs every rules/tests/*.yaml file against the default pack and
// checks that every enabled rule has at least one positive case.
func TestPack(t *testing.T) {
	e := loadPack(t)
	paths, err := filepath.Glob("tests/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	covered := map[string]bool{}
	for _, p := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(p), ".yaml"), func(t *testing.T) {
			for r := range runFile(t, e, p) {
				covered[r] = true
			}
		})
	}
	for _, r := range e.Rules() {
		if !covered[r.Name] {
			t.Errorf("rule %q has no positive test case", r.Name)
		}
	}
	for r := range covered {
		if !slices.ContainsFunc(e.Rules(), func(x *engine.Rule) bool { return x.Name == r }) {
			t.Errorf("tests expect rule %q, which the pack does not have", r)
		}
	}
}

// TestLocalTuning loads tests/tuning/local.yaml after the pack, as an operator's
// local file would be, and runs tests/tuning/tests.yaml against the result.
func TestLocalTuning(t *testing.T) {
	e := loadPack(t, filepath.Join("tests", "tuning", "local.yaml"))
	runFile(t, e, filepath.Join("tests", "tuning", "tests.yaml"))
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
