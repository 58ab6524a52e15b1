package engine

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

// upstreamFiles are Falco's upstream rule files, unedited, read from the
// shared folder next to the repository (the repository carries no copy).
var upstreamFiles = []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"}

func upstreamPath(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "falco-rules", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Falco's upstream rules: %v (CI=true: ../shared/falco-rules must be there)", err)
		}
		t.Skipf("Falco's upstream rules not found: %v", err)
	}
	return p
}

func upstreamRules(t testing.TB, names ...string) []File {
	t.Helper()
	var files []File
	for _, n := range names {
		b, err := os.ReadFile(upstreamPath(t, n))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Name: n, Data: b})
	}
	return files
}

// TestFalcoUpstreamGolden translates every macro and rule condition of the
// three upstream files (lists spliced in, macros by name) and every rule's
// verdict (active with its evt.type index, or why not); any change to the
// translation fails until the golden is regenerated with -update.
func TestFalcoUpstreamGolden(t *testing.T) {
	files := upstreamRules(t, upstreamFiles...)
	d := newDefs()
	for _, f := range files {
		d.readFile(f)
	}
	if len(d.problems) > 0 {
		t.Fatalf("reading upstream files: %v", &LoadError{Problems: d.problems})
	}
	r := newResolver(d)
	var b strings.Builder
	b.WriteString("# Falco's upstream rule files translated to expr by engine/falcolang (go test ./engine -run FalcoUpstreamGolden -update)\n")
	for _, key := range d.macroOrd {
		m := d.macros[key]
		fmt.Fprintf(&b, "\nmacro %s (%s:%d)\n", m.name, m.file, m.line)
		s, err := r.compileFalco(joinParts(m.cond))
		if err != nil {
			fmt.Fprintf(&b, "  ! %s\n", shown(err.Error()))
			continue
		}
		fmt.Fprintf(&b, "  %s\n", shown(s))
	}
	e, problems := build(d)
	if len(problems) > 0 {
		t.Fatalf("build: %v", &LoadError{Problems: problems})
	}
	inactive := map[string]string{}
	for _, in := range e.inactive {
		inactive[in.Name] = in.Reason
	}
	running := map[string]*Rule{}
	for _, rl := range e.rules {
		running[rl.Name] = rl
	}
	for _, key := range d.ruleOrder {
		def := d.rules[key]
		fmt.Fprintf(&b, "\nrule %s (%s:%d)\n", def.name, def.file, def.line)
		s, err := r.compileFalco(joinParts(def.cond))
		if err != nil {
			fmt.Fprintf(&b, "  ! %s\n", shown(err.Error()))
		} else {
			fmt.Fprintf(&b, "  %s\n", shown(s))
		}
		switch rl := running[def.name]; {
		case inactive[def.name] != "":
			fmt.Fprintf(&b, "  => inactive: %s\n", inactive[def.name])
		case rl == nil:
			fmt.Fprintf(&b, "  => disabled in its file\n")
		case rl.Types == nil:
			fmt.Fprintf(&b, "  => active, any event type\n")
		default:
			fmt.Fprintf(&b, "  => active, evt.type in %v\n", rl.Types)
		}
	}
	golden := filepath.Join("testdata", "falco_upstream.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("translation changed at %s line %d:\n got %s\nwant %s\n(go test ./engine -run FalcoUpstreamGolden -update after checking the change)", golden, i+1, g, w)
			}
		}
	}
}

// TestFalcoUpstreamLoad: the unedited upstream files load alone and beside
// the builtin pack, with at least 45% of the stable and incubating rules
// active; no active rule errors on the zero event of any type.
func TestFalcoUpstreamLoad(t *testing.T) {
	e := mustNew(t, Options{RateLimit: RateLimit{Rate: -1}}, upstreamRules(t, upstreamFiles[:2]...)...)
	fc := e.Falco()
	if fc.Active*100 < 45*fc.Rules {
		t.Errorf("stable + incubating: %s, want at least 45%% active", fc)
	}
	t.Logf("stable + incubating: %s", fc)
	builtin, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		t.Fatal(err)
	}
	all := mustNew(t, Options{RateLimit: RateLimit{Rate: -1}}, append(builtin, upstreamRules(t, upstreamFiles...)...)...)
	st := newEvalState()
	for _, r := range all.rules {
		for _, typ := range append([]string{""}, r.Types...) {
			if _, err := st.vm.Run(r.full, boxEvent(&event.Event{Evt: event.Evt{Type: typ}})); err != nil {
				t.Errorf("%s on zero %s event: %v", r.Name, typ, err)
			}
		}
	}
}

// BenchmarkFalcoUpstreamLoad is what loading Falco's three upstream files
// costs at a start or a SIGHUP reload.
func BenchmarkFalcoUpstreamLoad(b *testing.B) {
	files := upstreamRules(b, upstreamFiles...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(files, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
