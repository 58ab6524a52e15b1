package engine

import (
	"sort"

	"github.com/expr-lang/expr/ast"
)

// requiredTypes returns the evt.type values a condition requires: the
// condition can only be true for events of one of these types. ok is false
// when the condition does not constrain evt.type (it may match any type).
func requiredTypes(n ast.Node) (types map[string]bool, ok bool) {
	return requiredValues(n, "evt.type")
}

// requiredValues generalizes requiredTypes to any string field: the values
// of field the condition requires (== or in a literal list).
func requiredValues(n ast.Node, field string) (types map[string]bool, ok bool) {
	switch x := n.(type) {
	case *ast.BinaryNode:
		switch x.Operator {
		case "and", "&&":
			l, lok := requiredValues(x.Left, field)
			r, rok := requiredValues(x.Right, field)
			switch {
			case lok && rok:
				out := map[string]bool{}
				for t := range l {
					if r[t] {
						out[t] = true
					}
				}
				return out, true
			case lok:
				return l, true
			case rok:
				return r, true
			}
			return nil, false
		case "or", "||":
			l, lok := requiredValues(x.Left, field)
			r, rok := requiredValues(x.Right, field)
			if !lok || !rok {
				return nil, false
			}
			out := map[string]bool{}
			for t := range l {
				out[t] = true
			}
			for t := range r {
				out[t] = true
			}
			return out, true
		case "==":
			if s, ok := fieldCompare(x.Left, x.Right, field); ok {
				return map[string]bool{s: true}, true
			}
			if s, ok := fieldCompare(x.Right, x.Left, field); ok {
				return map[string]bool{s: true}, true
			}
		case "in":
			if name, ok := dotted(x.Left); ok && name == field {
				if arr, ok := x.Right.(*ast.ArrayNode); ok {
					out := map[string]bool{}
					for _, it := range arr.Nodes {
						s, ok := it.(*ast.StringNode)
						if !ok {
							return nil, false
						}
						out[s.Value] = true
					}
					return out, true
				}
			}
		}
	}
	return nil, false
}

func evtTypeCompare(field, lit ast.Node) (string, bool) {
	return fieldCompare(field, lit, "evt.type")
}

func fieldCompare(field, lit ast.Node, want string) (string, bool) {
	name, ok := dotted(field)
	if !ok || name != want {
		return "", false
	}
	s, ok := lit.(*ast.StringNode)
	if !ok {
		return "", false
	}
	return s.Value, true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// foldType replaces evt.type tests with their outcome for events of type t;
// expr's optimizer then drops the constant parts.
func foldType(np *ast.Node, t string) {
	switch n := (*np).(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "==", "!=":
			s, ok := evtTypeCompare(n.Left, n.Right)
			if !ok {
				s, ok = evtTypeCompare(n.Right, n.Left)
			}
			if ok {
				*np = &ast.BoolNode{Value: (s == t) == (n.Operator == "==")}
				return
			}
		case "in":
			if types, ok := requiredTypes(n); ok {
				*np = &ast.BoolNode{Value: types[t]}
				return
			}
		}
		foldType(&n.Left, t)
		foldType(&n.Right, t)
	case *ast.UnaryNode:
		foldType(&n.Node, t)
	case *ast.ConditionalNode:
		foldType(&n.Cond, t)
		foldType(&n.Exp1, t)
		foldType(&n.Exp2, t)
	}
}
