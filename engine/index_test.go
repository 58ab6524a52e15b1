package engine

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/expr-lang/expr/parser"
)

func TestRequiredTypes(t *testing.T) {
	cases := []struct {
		name string
		cond string
		want []string // nil = unconstrained
	}{
		{"equality", `evt.type == "execve"`, []string{"execve"}},
		{"reversed equality", `"open" == evt.type`, []string{"open"}},
		{"in", `evt.type in ["mount", "pivot_root"]`, []string{"mount", "pivot_root"}},
		{"and takes constrained side", `proc.tty and evt.type == "open"`, []string{"open"}},
		{"and intersects", `evt.type in ["a", "b"] and evt.type in ["b", "c"]`, []string{"b"}},
		{"and contradiction", `evt.type == "a" and evt.type == "b"`, []string{}},
		{"or unions", `evt.type == "a" or evt.type == "b"`, []string{"a", "b"}},
		{"or with unconstrained side", `evt.type == "a" or proc.tty`, nil},
		{"not", `not (evt.type == "a")`, nil},
		{"inequality", `evt.type != "a"`, nil},
		{"other field", `proc.name == "sh"`, nil},
		{"nested", `(evt.type == "a" or evt.type == "b") and (proc.tty or evt.type == "c")`, []string{"a", "b"}},
		{"symbol and", `evt.type == "a" && proc.tty`, []string{"a"}},
		{"in with non-literal", `evt.type in proc.args`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tree, err := parser.Parse(c.cond)
			if err != nil {
				t.Fatal(err)
			}
			types, ok := requiredTypes(tree.Node)
			if c.want == nil {
				if ok {
					t.Errorf("got %v, want unconstrained", sortedKeys(types))
				}
				return
			}
			if got := sortedKeys(types); !ok || !slices.Equal(got, c.want) {
				t.Errorf("got %v (constrained %v), want %v", got, ok, c.want)
			}
		})
	}
}

func TestIndexThroughMacrosAndExceptions(t *testing.T) {
	e := mustNew(t, Options{}, packFiles(t)...)
	want := map[string][]string{
		"Shell spawned by JVM":       {"execve"},
		"Mount in container":         {"mount", "pivot_root"},
		"Read sensitive file":        {"open"},
		"Delete shell history":       {"rename", "unlink"},
		"Connect to suspicious port": {"connect"},
		"Audit key hit":              nil,
	}
	for _, r := range e.Rules() {
		w, ok := want[r.Name]
		if !ok {
			continue
		}
		if !slices.Equal(r.Types, w) {
			t.Errorf("%s: Types = %v, want %v", r.Name, r.Types, w)
		}
	}
}

// TestIndexEquivalence: the index never changes which rules match, for
// random events over the fixture pack (and any event type, known or not).
func TestIndexEquivalence(t *testing.T) {
	e := mustNew(t, Options{}, packFiles(t)...)
	rng := rand.New(rand.NewPCG(1, 2))
	matchedAny := 0
	for i := range 20000 {
		ev := randomEvent(rng)
		got := names(e.Match(ev))
		want := evalAll(e, ev)
		if !slices.Equal(got, want) {
			t.Fatalf("event %d (%s): indexed %v, all rules %v", i, ev.Evt.Type, got, want)
		}
		if len(got) > 0 {
			matchedAny++
		}
	}
	if matchedAny < 1000 {
		t.Fatalf("only %d of 20000 random events matched: the property is not exercised", matchedAny)
	}
}

func TestRequiredProcNames(t *testing.T) {
	for _, c := range []struct {
		name string
		cond string
		want []string
	}{
		{"in", `evt.type == "execve" and proc.name in ["sh", "bash"]`, []string{"bash", "sh"}},
		{"or", `proc.name == "a" or proc.name == "b"`, []string{"a", "b"}},
		{"or unconstrained", `proc.name == "a" or proc.tty`, nil},
		{"not in", `proc.name not in ["a"]`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			tree, err := parser.Parse(c.cond)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := requiredValues(tree.Node, "proc.name")
			if (c.want == nil) == ok || (ok && !slices.Equal(sortedKeys(got), c.want)) {
				t.Errorf("got %v %v, want %v", sortedKeys(got), ok, c.want)
			}
		})
	}
}
