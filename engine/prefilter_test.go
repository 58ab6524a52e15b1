package engine

import (
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/expr-lang/expr/ast"

	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/event"
)

// literalPool holds, for every plain field the rules compare with a
// literal, values around those literals: the literal, a longer and a
// shorter string, a neighbour integer. Events drawn from it make the
// prefilters' tests both true and false.
type literalPool struct {
	vals   map[*event.Field][]any
	fields []*event.Field // the keys of vals, by name
}

func newLiteralPool(rs []*Rule) *literalPool {
	pool := map[*event.Field][]any{}
	add := func(f *event.Field, lit ast.Node) {
		switch l := lit.(type) {
		case *ast.StringNode:
			if f.Kind == event.KindString {
				s := l.Value
				pool[f] = append(pool[f], s, s+"x", "/x"+s, s[:len(s)/2], "")
			}
		case *ast.IntegerNode:
			if f.Kind == event.KindInt {
				pool[f] = append(pool[f], l.Value-1, l.Value, l.Value+1)
			}
		case *ast.ArrayNode:
			for _, it := range l.Nodes {
				if s, ok := it.(*ast.StringNode); ok && f.Kind == event.KindString {
					pool[f] = append(pool[f], s.Value, s.Value+"x")
				}
			}
		}
	}
	// Lists: elements around the literals predicates compare # with.
	var elems []string
	var lists []*event.Field
	for _, r := range rs {
		ast.Find(r.node, func(n ast.Node) bool {
			if x, ok := n.(*ast.BuiltinNode); ok && len(x.Arguments) > 0 {
				if f := plainField(x.Arguments[0], event.KindStrings); f != nil && !slices.Contains(lists, f) {
					lists = append(lists, f)
				}
			}
			if x, ok := n.(*ast.BinaryNode); ok {
				for _, side := range [][2]ast.Node{{x.Left, x.Right}, {x.Right, x.Left}} {
					if !isElement(side[0]) {
						continue
					}
					ast.Find(side[1], func(l ast.Node) bool {
						if s, ok := l.(*ast.StringNode); ok {
							v := s.Value
							elems = append(elems, v, v+"x", strings.ToLower(v), strings.ToUpper(v), v[:len(v)/2])
						}
						return false
					})
				}
			}
			return false
		})
	}
	for _, f := range lists {
		pool[f] = append(pool[f], []string(nil), []string{"PATH=/usr/bin", "HOME=/root"})
		for range 30 {
			var l []string
			for j := range 1 + len(pool[f])%4 {
				l = append(l, elems[(len(pool[f])*7+j*13)%len(elems)])
			}
			pool[f] = append(pool[f], l)
		}
	}
	for _, r := range rs {
		ast.Find(r.node, func(n ast.Node) bool {
			if x, ok := n.(*ast.BinaryNode); ok {
				for _, side := range [][2]ast.Node{{x.Left, x.Right}, {x.Right, x.Left}} {
					if name, ok := dotted(side[0]); ok {
						if f, ok := event.Lookup(name); ok {
							add(f, side[1])
						}
					}
				}
			}
			return false
		})
	}
	for _, f := range event.Fields() {
		if f.Kind == event.KindBool {
			pool[f] = []any{true, false}
		}
	}
	lp := &literalPool{vals: pool}
	for f := range pool {
		lp.fields = append(lp.fields, f)
	}
	sort.Slice(lp.fields, func(i, j int) bool { return lp.fields[i].Name < lp.fields[j].Name })
	return lp
}

// event is a random event whose plain fields are each, half the time, one
// of the pool's values.
func (p *literalPool) event(rng *rand.Rand) *event.Event {
	ev := randomEvent(rng)
	for _, f := range p.fields {
		if rng.IntN(2) == 0 {
			continue
		}
		vals := p.vals[f]
		switch v := vals[rng.IntN(len(vals))].(type) {
		case string:
			*f.Ptr(ev).(*string) = v
		case int:
			*f.Ptr(ev).(*int) = v
		case bool:
			*f.Ptr(ev).(*bool) = v
		case []string:
			*f.Ptr(ev).(*[]string) = v
		}
	}
	return ev
}

// TestPrefilterAgreesWithPrograms: for every rule of the builtin pack, the
// load harness's rules, the fixture pack and Falco's upstream rules, on
// events drawn from the literals their conditions test, a false prefilter
// means the rule's program is false and a true one means it is true; and
// the engine's matches (index and prefilters) are every rule's full
// program's.
func TestPrefilterAgreesWithPrograms(t *testing.T) {
	builtin, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		t.Fatal(err)
	}
	packs := map[string][]File{
		"builtin":  append(builtin, yamlFile("load.yaml", stormRule)),
		"fixtures": packFiles(t),
		"quantifiers": {yamlFile("q.yaml", `
- rule: any args
  desc: d
  condition: 'evt.type == "execve" and any(proc.args, # in ["-c", "-i"] or (# startsWith "/tmp/" and len(#) > 6))'
  output: o
  priority: NOTICE
- rule: all env
  desc: d
  condition: 'all(proc.env, # startsWith "PATH=" or # contains "LANG" and upper(#) endsWith "=C") and proc.name != "sh"'
  output: o
  priority: NOTICE
- rule: none args
  desc: d
  condition: 'evt.type == "execve" and none(proc.args, # == "-c" or # endsWith "x" and lower(#) != #)'
  output: o
  priority: NOTICE
- rule: upper env
  desc: d
  condition: 'any(proc.env, upper(#) startsWith "LD_" or lower(#) == "path=/bin") and not (lower(proc.name) startsWith "ls")'
  output: o
  priority: NOTICE
- rule: not any env
  desc: d
  condition: 'not any(proc.env, # startsWith "LD_PRELOAD=" and len(#) > 12) and container.id != "host"'
  output: o
  priority: NOTICE
`)},
		"falco": upstreamRules(t, "falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"),
	}
	for name, files := range packs {
		t.Run(name, func(t *testing.T) {
			e := mustNew(t, Options{RateLimit: RateLimit{Rate: -1}}, files...)
			pool := newLiteralPool(e.rules)
			withPre, skipped, decided := 0, map[string]bool{}, 0
			for _, r := range e.rules {
				if r.pre != nil {
					withPre++
				}
			}
			rng := rand.New(rand.NewPCG(15, 4))
			st := newEvalState()
			for i := range 20000 {
				ev := pool.event(rng)
				if i%3 == 0 && len(e.rules) > 0 {
					// The types the rules name, so the typed buckets run.
					r := e.rules[rng.IntN(len(e.rules))]
					if len(r.Types) > 0 {
						ev.Evt.Type = r.Types[rng.IntN(len(r.Types))]
					}
				}
				env := boxEvent(ev)
				for _, r := range e.rules {
					if r.pre == nil {
						continue
					}
					prog := r.prog
					if r.Types != nil && !slices.Contains(r.Types, ev.Evt.Type) {
						prog = r.full // the index never sends it this event
						if len(r.Types) == 1 {
							continue // a folded prefilter: only for its type
						}
					}
					v := r.pre(ev)
					out, err := st.vm.Run(prog, env)
					m, _ := out.(bool)
					switch {
					case v == triFalse && err == nil && m:
						t.Fatalf("rule %q: prefilter false, program true on %+v", r.Name, ev)
					case v == triTrue && (err != nil || !m):
						t.Fatalf("rule %q: prefilter true, program %v (%v) on %+v", r.Name, m, err, ev)
					}
					if v == triFalse {
						skipped[r.Name] = true
					}
					if v != triUnknown {
						decided++
					}
				}
				if got, want := names(e.Match(ev)), evalAll(e, ev); !slices.Equal(got, want) {
					t.Fatalf("event %d (%s): engine %v, every rule's program %v", i, ev.Evt.Type, got, want)
				}
			}
			t.Logf("%d rules, %d with a prefilter, %d of them false at least once; %d decided verdicts", len(e.rules), withPre, len(skipped), decided)
			if len(skipped) < withPre/2 {
				t.Fatalf("only %d of %d prefilters were ever false: the property is not exercised", len(skipped), withPre)
			}
		})
	}
}

// TestPrefilterStormExec: an exec of a benign program in the host runs the
// programs of only the rules whose plain fields cannot rule it out (the
// environment rule, the load harness's own), not all 15 execve rules that
// name no program.
func TestPrefilterStormExec(t *testing.T) {
	files, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		t.Fatal(err)
	}
	e := mustNew(t, Options{RateLimit: RateLimit{Rate: -1}}, append(files, yamlFile("load.yaml", stormRule))...)
	ex := stormEvents(4242)[4]
	tb := e.byType[ex.Evt.Type]
	b := tb.byName[ex.Proc.Name]
	if b == nil {
		b = tb.rest
	}
	const envRule = "Potential Local Privilege Escalation via Environment Variables Misuse"
	for _, c := range []struct {
		env  []string
		want []string
	}{
		{nil, []string{"ruled-load exec"}},
		{[]string{"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "TERM=xterm"}, []string{"ruled-load exec"}},
		// Variables starting with G: upper(#) decides, in Go too.
		{[]string{"PATH=/usr/bin:/bin", "GIT_SSL_CAINFO=/etc/ssl/ca.pem", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=/etc/ssl/ca.pem"}, []string{"ruled-load exec"}},
		{[]string{"PATH=/usr/bin:/bin", "glibc_tunables=glibc.malloc.x=1"}, []string{envRule, "ruled-load exec"}},
	} {
		ex.Proc.Env = c.env
		var run []string
		for _, r := range b.rules {
			if r.pre == nil || r.pre(ex) != triFalse {
				run = append(run, r.Name)
			}
		}
		if len(b.rules) < 10 || !slices.Equal(run, c.want) {
			t.Fatalf("env %q: of %d rules for the exec, programs run for %q, want %q", c.env, len(b.rules), run, c.want)
		}
	}
}

// TestCaseTest: upper(#) and lower(#) against a literal, decided without
// the mapped copy, agree with strings.ToUpper and ToLower, on strings with
// runes whose case mapping is not ASCII's (the long s, the Kelvin sign, the
// dotless i), invalid UTF-8 and random bytes.
func TestCaseTest(t *testing.T) {
	pointer := &ast.PointerNode{}
	inputs := []string{"", "g", "G", "glibc_tunables=x", "GLIBC_TUNABLES=", "GLIBC_TUNABLES", "\u017flibc", "ſ", "\u212a", "K", "k",
		"ıd", "ID", "\xffG", "G\xff", "gLiBc_TuNaBlEs=1", "straße", "STRASSE", "path=/bin", "PATH=/BIN", "Path=/bin/x"}
	rng := rand.New(rand.NewPCG(9, 9))
	alphabet := []string{"g", "G", "l", "L", "i", "I", "ı", "ſ", "s", "S", "K", "\u212a", "k", "=", "_", "\xff", "é", "É", "/", "b"}
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		inputs = append(inputs, b.String())
	}
	for _, fn := range []string{"upper", "lower"} {
		mapped := strings.ToUpper
		if fn == "lower" {
			mapped = strings.ToLower
		}
		for _, lit := range []string{"", "G", "GLIBC_TUNABLES=", "K", "k", "I", "id", "ss", "SS", "path=/bin", "s"} {
			for _, op := range []string{"startsWith", "=="} {
				x := &ast.BinaryNode{Operator: op, Left: &ast.BuiltinNode{Name: fn, Arguments: []ast.Node{pointer}}, Right: &ast.StringNode{Value: lit}}
				_, test, ok := caseTest(x, isElement)
				if !ok {
					t.Fatalf("%s(#) %s %q: not compiled", fn, op, lit)
				}
				for _, in := range inputs {
					want := strings.HasPrefix(mapped(in), lit)
					if op == "==" {
						want = mapped(in) == lit
					}
					if got := test(in); got != want {
						t.Fatalf("%s(%q) %s %q: %v, want %v", fn, in, op, lit, got, want)
					}
				}
			}
		}
	}
	if _, _, ok := caseTest(&ast.BinaryNode{Operator: "startsWith", Left: &ast.BuiltinNode{Name: "upper", Arguments: []ast.Node{pointer}},
		Right: &ast.StringNode{Value: "É"}}, isElement); ok {
		t.Fatal("a non-ASCII literal compiled")
	}
}
