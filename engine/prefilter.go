package engine

import (
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"

	"github.com/ruled/ruled/sources/event"
)

// A prefilter is a rule's condition reduced to its tests of plain event
// fields against literals (a string field ==, !=, in, startsWith, endsWith
// or contains string literals; an int field compared with an integer; a
// bool field alone), every other term unknown, evaluated in Go on the event
// itself. When it is false the condition is false whatever the unknown
// terms are, and the rule's program is not run.
//
// The evt.type and proc.name index only sends an event to the rules that
// may match its type and name; an exec of a benign program in the host
// still ran every execve rule that names no program (15 of the default
// pack, ~10 µs per exec under the load harness's storm: each program's
// code and constants come back into the cache for one event). Most of those
// rules require something a plain field decides (a container, an exe
// prefix, a parent in a list), so their prefilters end them in a few
// nanoseconds each.
type prefilter func(*event.Event) tri

// newPrefilter returns n's prefilter; nil when no term of n is decidable.
func newPrefilter(n ast.Node) prefilter {
	if n == nil {
		return nil
	}
	return reduce(n, prefilterLeaf)
}

func prefilterLeaf(n ast.Node) func(*event.Event) tri {
	if name, ok := dotted(n); ok {
		f, ok := event.Lookup(name)
		if !ok || f.Kind != event.KindBool {
			return nil
		}
		return func(ev *event.Event) tri { return triOf(*f.Ptr(ev).(*bool)) }
	}
	if x, ok := n.(*ast.BuiltinNode); ok {
		return quantifier(x)
	}
	x, ok := n.(*ast.BinaryNode)
	if !ok {
		return nil
	}
	field, test, neg, ok := literalTest(x, isDotted)
	if ok {
		f := plainField(field, event.KindString)
		if f == nil {
			return nil
		}
		return func(ev *event.Event) tri { return triOf(test(*f.Ptr(ev).(*string)) != neg) }
	}
	return intCompare(x)
}

// quantifier compiles any, all or none over a list field whose predicate
// tests # against string literals (any(proc.env, # startsWith "G" and
// ...)): the predicate is reduced per element the same way, and the
// quantifier is decided when the elements decide it (any: one true, or all
// false, an empty list included).
func quantifier(x *ast.BuiltinNode) func(*event.Event) tri {
	if x.Name != "any" && x.Name != "all" && x.Name != "none" || len(x.Arguments) != 2 {
		return nil
	}
	f := plainField(x.Arguments[0], event.KindStrings)
	pred, ok := x.Arguments[1].(*ast.PredicateNode)
	if f == nil || !ok {
		return nil
	}
	p := reduce(pred.Node, elementLeaf)
	if p == nil {
		return nil
	}
	// all(l, p) is not any(l, not p); none(l, p) is not any(l, p).
	want, found, rest := triTrue, triTrue, triFalse
	switch x.Name {
	case "all":
		want, found, rest = triFalse, triFalse, triTrue
	case "none":
		found, rest = triFalse, triTrue
	}
	return func(ev *event.Event) tri {
		v := rest
		for _, s := range *f.Ptr(ev).(*[]string) {
			switch p(s) {
			case want:
				return found
			case triUnknown:
				v = triUnknown
			}
		}
		return v
	}
}

// elementLeaf compiles a predicate's test of # (the element) against
// string literals; anything else in the predicate is unknown.
func elementLeaf(n ast.Node) func(string) tri {
	x, ok := n.(*ast.BinaryNode)
	if !ok {
		return nil
	}
	_, test, neg, ok := literalTest(x, isElement)
	if !ok {
		return nil
	}
	return func(s string) tri { return triOf(test(s) != neg) }
}

// caseTest compiles upper(S) or lower(S) (S a subject isSubject accepts)
// == or startsWith an ASCII literal: the test of S's value, comparing its
// runes mapped one by one as strings.ToUpper and ToLower map them, without
// building the mapped copy (the GLIBC_TUNABLES rule's upper(#) over every
// literalTest is a string test of a subject against literals, plain
// (stringTest) or through upper/lower (caseTest).
func literalTest(x *ast.BinaryNode, isSubject func(ast.Node) bool) (subject ast.Node, test func(string) bool, neg, ok bool) {
	if subject, test, neg, ok = stringTest(x, isSubject); ok {
		return subject, test, neg, true
	}
	subject, test, ok = caseTest(x, isSubject)
	return subject, test, false, ok
}

// environment variable starting with G).
func caseTest(x *ast.BinaryNode, isSubject func(ast.Node) bool) (subject ast.Node, test func(string) bool, ok bool) {
	if x.Operator != "==" && x.Operator != "startsWith" {
		return nil, nil, false
	}
	call, lit := x.Left, x.Right
	if _, isCall := call.(*ast.BuiltinNode); !isCall && x.Operator == "==" {
		call, lit = x.Right, x.Left
	}
	b, isCall := call.(*ast.BuiltinNode)
	s, isLit := lit.(*ast.StringNode)
	if !isCall || !isLit || b.Name != "upper" && b.Name != "lower" || len(b.Arguments) != 1 || !isSubject(b.Arguments[0]) {
		return nil, nil, false
	}
	want := s.Value
	for i := range len(want) {
		if want[i] >= utf8.RuneSelf {
			return nil, nil, false
		}
	}
	mapRune, whole := unicode.ToUpper, x.Operator == "=="
	if b.Name == "lower" {
		mapRune = unicode.ToLower
	}
	return b.Arguments[0], func(v string) bool {
		i := 0
		for _, r := range v { // an invalid byte is RuneError, as for strings.Map
			if i == len(want) {
				return !whole
			}
			if m := mapRune(r); m >= utf8.RuneSelf || byte(m) != want[i] {
				return false
			}
			i++
		}
		return i == len(want)
	}, true
}

func isElement(n ast.Node) bool {
	p, ok := n.(*ast.PointerNode)
	return ok && p.Name == ""
}

// intCompare compiles an int field compared with an integer literal (the
// field on the left).
func intCompare(x *ast.BinaryNode) func(*event.Event) tri {
	f := plainField(x.Left, event.KindInt)
	lit, ok := x.Right.(*ast.IntegerNode)
	if f == nil || !ok {
		return nil
	}
	want := lit.Value
	var test func(int) bool
	switch x.Operator {
	case "==":
		test = func(v int) bool { return v == want }
	case "!=":
		test = func(v int) bool { return v != want }
	case "<":
		test = func(v int) bool { return v < want }
	case "<=":
		test = func(v int) bool { return v <= want }
	case ">":
		test = func(v int) bool { return v > want }
	case ">=":
		test = func(v int) bool { return v >= want }
	default:
		return nil
	}
	return func(ev *event.Event) tri { return triOf(test(*f.Ptr(ev).(*int))) }
}

// plainField returns the event field n names when it is of kind k.
func plainField(n ast.Node, k event.Kind) *event.Field {
	name, ok := dotted(n)
	if !ok {
		return nil
	}
	f, ok := event.Lookup(name)
	if !ok || f.Kind != k {
		return nil
	}
	return f
}

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}
