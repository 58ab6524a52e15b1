package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/ruled/ruled/sources/event"
	"gopkg.in/yaml.v3"
)

// exceptionOps maps Falco comparison spellings to expr operators.
var exceptionOps = map[string]string{
	"=": "==", "==": "==", "!=": "!=", "in": "in", "startswith": "startsWith", "endswith": "endsWith",
	"contains": "contains", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
}

func fieldNode(name string) ast.Node {
	parts := strings.Split(name, ".")
	var n ast.Node = &ast.IdentifierNode{Value: parts[0]}
	for _, p := range parts[1:] {
		n = &ast.MemberNode{Node: n, Property: &ast.StringNode{Value: p}}
	}
	return n
}

func and(a, b ast.Node) ast.Node {
	if a == nil {
		return b
	}
	return &ast.BinaryNode{Operator: "and", Left: a, Right: b}
}

func or(a, b ast.Node) ast.Node {
	if a == nil {
		return b
	}
	return &ast.BinaryNode{Operator: "or", Left: a, Right: b}
}

// exceptionAST builds `(f1 op v1 and f2 op v2) or (...)` for one exception.
func (r *resolver) exceptionAST(e *exceptionDef, lang Lang) (ast.Node, error) {
	if lang == LangFalco {
		return r.falcoExceptionAST(e)
	}
	fields := make([]*event.Field, len(e.fields))
	ops := make([]string, len(e.fields))
	for i, name := range e.fields {
		f, ok := event.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("exception %s: unknown field %s", e.name, name)
		}
		op, ok := exceptionOps[strings.ToLower(e.comps[i])]
		if !ok {
			return nil, fmt.Errorf("exception %s: unknown comp %q (want =, !=, in, startswith, endswith, contains, <, <=, >, >=)", e.name, e.comps[i])
		}
		switch op {
		case "startsWith", "endsWith", "contains":
			if f.Kind != event.KindString {
				return nil, fmt.Errorf("exception %s: %s needs a string field, %s is %s", e.name, e.comps[i], name, f.Kind)
			}
		case "<", "<=", ">", ">=":
			if f.Kind != event.KindInt {
				return nil, fmt.Errorf("exception %s: %s needs an int field, %s is %s", e.name, e.comps[i], name, f.Kind)
			}
		}
		switch f.Kind {
		case event.KindString, event.KindInt, event.KindBool:
		default:
			return nil, fmt.Errorf("exception %s: field %s (%s) cannot be compared", e.name, name, f.Kind)
		}
		fields[i], ops[i] = f, op
	}
	if len(e.fields) == 0 {
		return nil, fmt.Errorf("exception %s: no fields", e.name)
	}
	var out ast.Node
	if e.single {
		// fields: f (a scalar): values are the scalars of one set.
		if len(e.values) == 0 {
			return nil, nil
		}
		if ops[0] != "in" {
			// One comparison per value.
			for _, v := range e.values {
				vn, err := r.valueNode(fields[0], ops[0], v)
				if err != nil {
					return nil, fmt.Errorf("exception %s: %w", e.name, err)
				}
				out = or(out, &ast.BinaryNode{Operator: ops[0], Left: fieldNode(fields[0].Name), Right: vn})
			}
			return out, nil
		}
		val, err := r.valueNode(fields[0], ops[0], &yaml.Node{Kind: yaml.SequenceNode, Content: e.values})
		if err != nil {
			return nil, fmt.Errorf("exception %s: %w", e.name, err)
		}
		return &ast.BinaryNode{Operator: "in", Left: fieldNode(fields[0].Name), Right: val}, nil
	}
	for _, tuple := range e.values {
		if tuple.Kind != yaml.SequenceNode || len(tuple.Content) != len(fields) {
			return nil, &lineError{line: tuple.Line, err: fmt.Errorf("exception %s: each value must be a list of %d values (one per field)", e.name, len(fields))}
		}
		var conj ast.Node
		for i, v := range tuple.Content {
			vn, err := r.valueNode(fields[i], ops[i], v)
			if err != nil {
				return nil, &lineError{line: v.Line, err: fmt.Errorf("exception %s: %w", e.name, err)}
			}
			conj = and(conj, &ast.BinaryNode{Operator: ops[i], Left: fieldNode(fields[i].Name), Right: vn})
		}
		out = or(out, conj)
	}
	return out, nil
}

// valueNode turns a YAML value into a literal of the field's type; for in,
// a list of values or the name of a list.
func (r *resolver) valueNode(f *event.Field, op string, v *yaml.Node) (ast.Node, error) {
	if op == "in" {
		var items []*yaml.Node
		switch v.Kind {
		case yaml.SequenceNode:
			items = v.Content
		case yaml.ScalarNode:
			if _, ok := r.lists[v.Value]; ok {
				vals, err := r.resolveList(v.Value, nil)
				if err != nil {
					return nil, err
				}
				arr := &ast.ArrayNode{}
				for _, x := range vals {
					var s string
					switch n := x.(type) {
					case *ast.StringNode:
						s = n.Value
					case *ast.IntegerNode:
						s = strconv.Itoa(n.Value)
					}
					lit, err := literal(f, s)
					if err != nil {
						return nil, err
					}
					arr.Nodes = append(arr.Nodes, lit)
				}
				return arr, nil
			}
			items = []*yaml.Node{v}
		default:
			return nil, fmt.Errorf("in: want a list of values or a list name")
		}
		arr := &ast.ArrayNode{}
		for _, it := range items {
			if it.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("in: values must be scalars")
			}
			lit, err := literal(f, it.Value)
			if err != nil {
				return nil, err
			}
			arr.Nodes = append(arr.Nodes, lit)
		}
		return arr, nil
	}
	if v.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("%s: want a single value for field %s", op, f.Name)
	}
	return literal(f, v.Value)
}

func literal(f *event.Field, s string) (ast.Node, error) {
	switch f.Kind {
	case event.KindInt:
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("field %s is an int, value %q is not", f.Name, s)
		}
		return &ast.IntegerNode{Value: n}, nil
	case event.KindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("field %s is a bool, value %q is not", f.Name, s)
		}
		return &ast.BoolNode{Value: b}, nil
	}
	return &ast.StringNode{Value: s}, nil
}

// lineError carries the YAML line of the value at fault.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return e.err.Error() }
func (e *lineError) Unwrap() error { return e.err }
