package ruletest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/sources/event"
	"gopkg.in/yaml.v3"
)

// Case is one test: an event and the rules it must fire, exactly.
type Case struct {
	Name   string
	Event  *event.Event
	Expect []string
	File   string
	Line   int
}

// Parse reads a test file: a YAML list of {name, event, expect}. The event
// is decoded strictly (an unknown field is an error), names are unique per
// file, and expect is required ([] = no rule may fire).
func Parse(name string, data []byte) ([]Case, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: a test file is a YAML list of tests", name, root.Line)
	}
	var cases []Case
	seen := map[string]int{}
	var errs []string
	for _, n := range root.Content {
		c, err := parseCase(name, n)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if prev, dup := seen[c.Name]; dup {
			errs = append(errs, fmt.Sprintf("%s:%d: duplicate test name %q (first at line %d)", name, n.Line, c.Name, prev))
			continue
		}
		seen[c.Name] = n.Line
		cases = append(cases, c)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return cases, nil
}

func parseCase(file string, n *yaml.Node) (Case, error) {
	c := Case{File: file, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return c, fmt.Errorf("%s:%d: a test is a mapping with name, event, expect", file, n.Line)
	}
	var haveEvent, haveExpect bool
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "name":
			c.Name = v.Value
		case "event":
			var m map[string]any
			if err := v.Decode(&m); err != nil {
				return c, fmt.Errorf("%s:%d: event: %w", file, v.Line, err)
			}
			b, err := json.Marshal(m)
			if err != nil {
				return c, fmt.Errorf("%s:%d: event: %w", file, v.Line, err)
			}
			c.Event = new(event.Event)
			if err := event.UnmarshalJSON(b, c.Event); err != nil {
				return c, fmt.Errorf("%s:%d: event: %w", file, v.Line, err)
			}
			haveEvent = true
		case "expect":
			if err := v.Decode(&c.Expect); err != nil {
				return c, fmt.Errorf("%s:%d: expect: want a list of rule names", file, v.Line)
			}
			if c.Expect == nil {
				c.Expect = []string{}
			}
			haveExpect = true
		default:
			return c, fmt.Errorf("%s:%d: unknown key %q (want name, event, expect)", file, k.Line, k.Value)
		}
	}
	switch {
	case c.Name == "":
		return c, fmt.Errorf("%s:%d: test without a name", file, n.Line)
	case !haveEvent:
		return c, fmt.Errorf("%s:%d: test %q has no event", file, n.Line, c.Name)
	case !haveExpect:
		return c, fmt.Errorf("%s:%d: test %q has no expect (use [] when no rule may fire)", file, n.Line, c.Name)
	}
	return c, nil
}

// ReadFiles parses test files; a directory contributes its *.yaml and
// *.yml files in lexical order (not recursive).
func ReadFiles(paths []string) ([]Case, error) {
	var cases []Case
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("tests %s: %w", p, err)
		}
		files := []string{p}
		if st.IsDir() {
			files = nil
			ents, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("tests %s: %w", p, err)
			}
			for _, e := range ents {
				if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
					files = append(files, filepath.Join(p, e.Name()))
				}
			}
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("tests %s: %w", f, err)
			}
			cs, err := Parse(f, b)
			if err != nil {
				return nil, err
			}
			cases = append(cases, cs...)
		}
	}
	return cases, nil
}

// Failure is a case whose fired rules differ from its expectation.
type Failure struct {
	Case       Case
	Missing    []string // expected, did not fire
	Unexpected []string // fired, not expected
}

func (f Failure) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: %s", f.Case.File, f.Case.Line, f.Case.Name)
	if len(f.Missing) > 0 {
		fmt.Fprintf(&b, "\n    missing: %s", quoteAll(f.Missing))
	}
	if len(f.Unexpected) > 0 {
		fmt.Fprintf(&b, "\n    unexpected: %s", quoteAll(f.Unexpected))
	}
	return b.String()
}

func quoteAll(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// Result summarizes a run.
type Result struct {
	Passed   int
	Failed   int
	Failures []Failure
}

// Run evaluates every case with e.Match (no rate limit) and compares the
// fired rule names with the expectation, as sets.
func Run(e *engine.Engine, cases []Case) Result {
	var res Result
	for _, c := range cases {
		got := map[string]bool{}
		for _, r := range e.Match(c.Event) {
			got[r.Name] = true
		}
		want := map[string]bool{}
		for _, n := range c.Expect {
			want[n] = true
		}
		var f Failure
		for n := range want {
			if !got[n] {
				f.Missing = append(f.Missing, n)
			}
		}
		for n := range got {
			if !want[n] {
				f.Unexpected = append(f.Unexpected, n)
			}
		}
		if len(f.Missing) == 0 && len(f.Unexpected) == 0 {
			res.Passed++
			continue
		}
		sort.Strings(f.Missing)
		sort.Strings(f.Unexpected)
		f.Case = c
		res.Failed++
		res.Failures = append(res.Failures, f)
	}
	return res
}

// Report writes every failure and the "N passed, N failed" line.
func (r Result) Report(w io.Writer) {
	for _, f := range r.Failures {
		fmt.Fprintf(w, "FAIL %s\n", f)
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", r.Passed, r.Failed)
}

// UnknownExpectations lists expected rule names that are not enabled rules
// of e: a typo in expect would otherwise only show as "missing".
func UnknownExpectations(e *engine.Engine, cases []Case) []string {
	known := map[string]bool{}
	for _, r := range e.Rules() {
		known[r.Name] = true
	}
	var out []string
	for _, c := range cases {
		for _, n := range c.Expect {
			if !known[n] {
				out = append(out, fmt.Sprintf("%s:%d: %s: expects unknown or disabled rule %q", c.File, c.Line, c.Name, n))
			}
		}
	}
	return slices.Compact(out)
}
