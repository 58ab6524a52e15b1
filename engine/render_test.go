package engine

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/event"
)

// stormFalcoRule is the load harness's exec rule in Falco's language, its
// output with Falco's own field names.
const stormFalcoRule = `# ruled: language=falco
- rule: ruled-load exec falco
  desc: An exec of the load harness's target.
  condition: evt.type = execve and proc.exe = /usr/bin/true
  output: load exec (exe=%proc.exe cmd=%proc.cmdline user=%user.name parent=%proc.pname container=%container.id pid=%proc.pid)
  priority: NOTICE
`

// BenchmarkRender is one alert's output and output_fields for the load
// harness's exec rule: ruled's language, then Falco's.
func BenchmarkRender(b *testing.B) {
	files, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		b.Fatal(err)
	}
	e := mustNew(b, Options{RateLimit: RateLimit{Rate: -1}}, append(files, yamlFile("load.yaml", stormRule), yamlFile("falco.yaml", stormFalcoRule))...)
	ex := stormEvents(4242)[4]
	for _, name := range []string{"ruled-load exec", "ruled-load exec falco"} {
		var r *Rule
		for _, x := range e.rules {
			if x.Name == name {
				r = x
			}
		}
		if r == nil {
			b.Fatalf("no rule %q", name)
		}
		b.Run(r.Lang.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Render(ex)
			}
		})
	}
}

// renderEach is the template's output as the rules define it, read field by
// field: each part's value read and formatted on its own, each Falco field's
// program run with expr.Run on a copy of the event.
func renderEach(t *template, ev *event.Event) (string, map[string]any) {
	falcoValue := func(f *falcoField) any {
		if f.prog == nil || f.plain != nil && f.plain.Unknown(ev) {
			return nil
		}
		if f.present != nil {
			if ok, err := expr.Run(f.present, *ev); err != nil || ok != true {
				return nil
			}
		}
		v, err := expr.Run(f.prog, *ev)
		if err != nil {
			return nil
		}
		return v
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch {
		case p.falco != nil:
			if v := falcoValue(p.falco); v == nil {
				b.WriteString("<NA>")
			} else {
				b.WriteString(event.FormatValue(v))
			}
		case p.field == nil:
			b.WriteString(p.lit)
		default:
			b.WriteString(p.field.String(ev))
		}
	}
	m := map[string]any{}
	for _, f := range t.falco {
		m[f.name] = falcoValue(f)
	}
	for _, f := range t.fields {
		if _, ok := m[f.Name]; !ok {
			m[f.Name] = f.OutputValue(ev)
		}
	}
	return b.String(), m
}

// TestRenderAsEachField: every rule's output and output_fields, over the
// builtin pack, the fixtures and Falco's upstream rules, on random events,
// are what reading each field on its own gives.
func TestRenderAsEachField(t *testing.T) {
	builtin, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		t.Fatal(err)
	}
	var files []File
	files = append(files, builtin...)
	files = append(files, yamlFile("load.yaml", stormRule), yamlFile("falco.yaml", stormFalcoRule))
	files = append(files, upstreamRules(t, "falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")...)
	e := mustNew(t, Options{RateLimit: RateLimit{Rate: -1}}, files...)
	pool := newLiteralPool(e.rules)
	rng := rand.New(rand.NewPCG(15, 5))
	nas, vals := 0, 0
	for i := range 100 {
		ev := pool.event(rng)
		if i == 0 {
			ev = stormEvents(4242)[4]
		}
		for _, r := range e.rules {
			text, m := r.Render(ev)
			wantText, wantM := renderEach(r.tpl, ev)
			if text != wantText || !reflect.DeepEqual(m, wantM) {
				t.Fatalf("rule %q on event %d:\n got %q %v\nwant %q %v", r.Name, i, text, m, wantText, wantM)
			}
			for _, v := range m {
				if v == nil {
					nas++
				} else {
					vals++
				}
			}
		}
	}
	if nas == 0 || vals == 0 {
		t.Fatalf("%d unknown and %d known values: not exercised", nas, vals)
	}
}
