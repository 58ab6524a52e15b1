package engine

import (
	"strings"

	"github.com/expr-lang/expr/ast"
)

// A ReadGroup is an optional, costly part of the process table's /proc
// read at exec (or at a dup onto a standard descriptor) that feeds only the
// fields it lists.
type ReadGroup int

// The groups the process table can leave out.
const (
	// GroupStdio: the links of fds 0-2 and their sockets' ends.
	GroupStdio ReadGroup = iota
	// GroupEnv: the environment.
	GroupEnv
	// GroupCaps: the capability sets.
	GroupCaps
	// GroupDupFD: a dup record's descriptor (fd.*), read when the dup
	// comes; what it reads also becomes the process's stdio, so the table
	// asks for GroupStdio too.
	GroupDupFD
	nGroups
)

var groupFields = [nGroups][]string{
	GroupStdio: {"proc.stdin", "proc.stdout", "proc.stderr"},
	GroupEnv:   {"proc.env"},
	GroupCaps:  {"proc.cap_effective", "proc.cap_permitted", "proc.cap_inheritable"},
	GroupDupFD: {"fd"},
}

// Known is what the process table knows cheaply when it decides whether to
// read a group: "" is unknown.
type Known struct {
	Name        string // proc.name (comm)
	Exe         string // proc.exe
	ContainerID string // container.id: "host" or an id
	// Type is evt.type when the read serves only the event at hand (a
	// dup's descriptor); "" for a read whose result the process's later
	// events inherit.
	Type string
}

// Guide tells which groups a process needs from the loaded rules: for
// each group, the OR over the rules that read one of its fields (in the
// condition or the output) of the rule's condition reduced to what Known
// decides, every other term unknown (three-valued: an AND with a false
// side is false, an OR needs both sides false, NOT of unknown is unknown).
// A group is left out only when that is false: no loaded rule reading it
// can match any event of the process.
type Guide struct {
	groups [nGroups]guideGroup
}

type guideGroup struct {
	always bool              // a rule reading the group has no decidable restriction
	conds  []func(Known) tri // one per rule reading the group
}

type tri uint8

const (
	triUnknown tri = iota
	triFalse
	triTrue
)

// Needs reports whether the process (or event) k describes may need g.
func (g *Guide) Needs(group ReadGroup, k Known) bool {
	if g == nil {
		return true
	}
	gg := &g.groups[group]
	if gg.always {
		return true
	}
	for _, c := range gg.conds {
		if c(k) != triFalse {
			return true
		}
	}
	return false
}

// Guide returns the read guide of the loaded rules.
func (e *Engine) Guide() *Guide { return e.guide }

func buildGuide(rules []*Rule) *Guide {
	g := &Guide{}
	for _, r := range rules {
		s := usedFields([]*Rule{r})
		var c func(Known) tri
		for grp := ReadGroup(0); grp < nGroups; grp++ {
			reads := false
			for _, f := range groupFields[grp] {
				if s.Has(f) || s.under(f) {
					reads = true
				}
			}
			if !reads || g.groups[grp].always {
				continue
			}
			if c == nil {
				if r.node == nil {
					g.groups[grp].always = true
					continue
				}
				c = guideCond(r.node)
			}
			if c == nil {
				g.groups[grp].always = true
				continue
			}
			g.groups[grp].conds = append(g.groups[grp].conds, c)
		}
	}
	return g
}

// under reports whether a field below name is read (proc.stdin.type for
// proc.stdin).
func (s FieldSet) under(name string) bool {
	p := name + "."
	for n := range s.names {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

// guideCond compiles n to its three-valued reduction over Known; nil when
// nothing in it is decidable (always unknown).
func guideCond(n ast.Node) func(Known) tri {
	return reduce(n, func(n ast.Node) func(Known) tri {
		if x, ok := n.(*ast.BinaryNode); ok {
			return guideCompare(x)
		}
		return nil
	})
}

// reduce compiles n to its three-valued reduction over K: leaf compiles
// the terms it can decide (nil for the others, which are unknown), and
// reduce combines them through not, and and or (an AND with a false side
// is false, an OR needs both sides false, NOT of unknown is unknown). nil
// when nothing in n is decidable, or when n reduces to true.
//
// Constants fold away (a single-type rule's evt.type tests, folded to true,
// leave nothing to call) and a chain of ANDs or of ORs is one call over its
// terms: a prefilter runs for every rule an event's bucket holds, and under
// an exec storm each closure it calls is a cache miss.
func reduce[K any](n ast.Node, leaf func(ast.Node) func(K) tri) func(K) tri {
	t := reduceTerm(n, leaf)
	if t.isConst {
		if t.konst == triTrue {
			return nil
		}
		return func(K) tri { return triFalse }
	}
	return t.fn()
}

// term is a reduced subexpression: a constant, a function, a chain of
// ANDs or of ORs over functions, or (zero) undecidable.
type term[K any] struct {
	isConst bool
	konst   tri
	f       func(K) tri
	op      byte          // 'a' or 'o': f is kids joined by AND or OR
	kids    []func(K) tri // op's terms, in the condition's order
	capped  bool          // an AND with an undecidable term: never true
}

func (t term[K]) undecidable() bool { return !t.isConst && t.f == nil && t.op == 0 }

// fn returns t as a function (t neither constant nor undecidable).
func (t term[K]) fn() func(K) tri {
	if t.op == 0 {
		return t.f
	}
	kids, capped := t.kids, t.capped
	if len(kids) == 1 && !capped {
		return kids[0]
	}
	// AND: a false term decides, else true unless a term (or the cap) is
	// unknown; OR: a true term decides, else false unless one is unknown.
	decisive, start := tri(triTrue), tri(triFalse)
	if t.op == 'a' {
		decisive, start = triFalse, triTrue
		if capped {
			start = triUnknown
		}
	}
	return func(k K) tri {
		v := start
		for _, c := range kids {
			switch c(k) {
			case decisive:
				return decisive
			case triUnknown:
				v = triUnknown
			}
		}
		return v
	}
}

// terms returns t's terms for a chain of op.
func (t term[K]) terms(op byte) []func(K) tri {
	if t.op == op {
		return t.kids
	}
	return []func(K) tri{t.fn()}
}

func constTerm[K any](v bool) term[K] { return term[K]{isConst: true, konst: triOf(v)} }

func reduceTerm[K any](n ast.Node, leaf func(ast.Node) func(K) tri) term[K] {
	switch x := n.(type) {
	case *ast.BoolNode:
		return constTerm[K](x.Value)
	case *ast.UnaryNode:
		if x.Operator != "not" && x.Operator != "!" {
			return term[K]{}
		}
		c := reduceTerm(x.Node, leaf)
		switch {
		case c.isConst:
			return constTerm[K](c.konst == triFalse)
		case c.undecidable():
			return c
		}
		f := c.fn()
		return term[K]{f: func(k K) tri {
			switch f(k) {
			case triTrue:
				return triFalse
			case triFalse:
				return triTrue
			}
			return triUnknown
		}}
	case *ast.BinaryNode:
		switch x.Operator {
		case "and", "&&":
			l, r := reduceTerm(x.Left, leaf), reduceTerm(x.Right, leaf)
			switch {
			case l.isConst && l.konst == triFalse, r.isConst && r.konst == triFalse:
				return constTerm[K](false)
			case l.isConst:
				return r
			case r.isConst:
				return l
			case l.undecidable() && r.undecidable():
				return term[K]{}
			case l.undecidable():
				return term[K]{op: 'a', kids: r.terms('a'), capped: true}
			case r.undecidable():
				return term[K]{op: 'a', kids: l.terms('a'), capped: true}
			}
			kids := append(append([]func(K) tri(nil), l.terms('a')...), r.terms('a')...)
			return term[K]{op: 'a', kids: kids, capped: l.op == 'a' && l.capped || r.op == 'a' && r.capped}
		case "or", "||":
			l, r := reduceTerm(x.Left, leaf), reduceTerm(x.Right, leaf)
			switch {
			case l.isConst && l.konst == triTrue, r.isConst && r.konst == triTrue:
				return constTerm[K](true)
			case l.undecidable() || r.undecidable():
				return term[K]{}
			case l.isConst:
				return r
			case r.isConst:
				return l
			}
			kids := append(append([]func(K) tri(nil), l.terms('o')...), r.terms('o')...)
			return term[K]{op: 'o', kids: kids}
		}
	}
	return term[K]{f: leaf(n)}
}

func isDotted(n ast.Node) bool {
	_, ok := dotted(n)
	return ok
}

// knownField returns the getter of a field Known decides.
func knownField(n ast.Node) func(Known) string {
	name, ok := dotted(n)
	if !ok {
		return nil
	}
	switch name {
	case "proc.name":
		return func(k Known) string { return k.Name }
	case "proc.exe":
		return func(k Known) string { return k.Exe }
	case "container.id":
		return func(k Known) string { return k.ContainerID }
	case "evt.type":
		return func(k Known) string { return k.Type }
	}
	return nil
}

// guideCompare compiles a comparison of a known field with string
// literals: ==, !=, in, startsWith, endsWith, contains.
func guideCompare(x *ast.BinaryNode) func(Known) tri {
	field, test, neg, ok := stringTest(x, isDotted)
	if !ok {
		return nil
	}
	get := knownField(field)
	if get == nil {
		return nil
	}
	return func(k Known) tri {
		v := get(k)
		if v == "" {
			return triUnknown
		}
		if test(v) != neg {
			return triTrue
		}
		return triFalse
	}
}

// stringTest splits a comparison of a subject (a field, or # in a
// predicate: what isSubject accepts) with string literals (==, !=, in,
// startsWith, endsWith, contains; the literal on either side of == and !=)
// into the subject's node and the test of its value; neg: the outcome is
// the test's negation (!=). ok is false for any other node.
func stringTest(x *ast.BinaryNode, isSubject func(ast.Node) bool) (field ast.Node, test func(string) bool, neg, ok bool) {
	field, lit := x.Left, x.Right
	if !isSubject(field) && (x.Operator == "==" || x.Operator == "!=") {
		field, lit = x.Right, x.Left
	}
	if !isSubject(field) {
		return nil, nil, false, false
	}
	if x.Operator == "in" {
		arr, ok := lit.(*ast.ArrayNode)
		if !ok {
			return nil, nil, false, false
		}
		set := make(map[string]bool, len(arr.Nodes))
		for _, it := range arr.Nodes {
			s, ok := it.(*ast.StringNode)
			if !ok {
				return nil, nil, false, false
			}
			set[s.Value] = true
		}
		return field, func(v string) bool { return set[v] }, false, true
	}
	s, ok := lit.(*ast.StringNode)
	if !ok {
		return nil, nil, false, false
	}
	want := s.Value
	switch x.Operator {
	case "==", "!=":
		test = func(v string) bool { return v == want }
	case "startsWith":
		test = func(v string) bool { return strings.HasPrefix(v, want) }
	case "endsWith":
		test = func(v string) bool { return strings.HasSuffix(v, want) }
	case "contains":
		test = func(v string) bool { return strings.Contains(v, want) }
	default:
		return nil, nil, false, false
	}
	return field, test, x.Operator == "!=", true
}
