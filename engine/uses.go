package engine

import (
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// FieldSet is the set of event fields a loaded rule set reads: in its
// enabled rules' conditions (macros, lists and exceptions expanded) and
// output templates, plus the fields every alert carries. The process table
// asks it which optional /proc reads (the environment, capabilities, the
// network namespace) an exec needs.
type FieldSet struct {
	// names holds dotted paths; a path names its whole subtree ("proc"
	// when a condition passes the whole process to a function).
	names map[string]bool
}

// Has reports whether name ("proc.env") or a path above it is read.
func (s FieldSet) Has(name string) bool {
	for {
		if s.names[name] {
			return true
		}
		i := strings.LastIndexByte(name, '.')
		if i < 0 {
			return false
		}
		name = name[:i]
	}
}

// Fields returns the fields the engine's rules read.
func (e *Engine) Fields() FieldSet { return e.fields }

// usedFields collects the fields of rules: the member paths of their
// compiled conditions (every event type's), their templates' fields and,
// for Falco-language templates, the paths of each field's expression.
func usedFields(rules []*Rule) FieldSet {
	s := FieldSet{names: map[string]bool{}}
	for _, n := range alwaysFields {
		s.names[n] = true
	}
	for _, r := range rules {
		s.addProgram(r.full)
		s.addProgram(r.prog)
		if r.tpl == nil {
			continue
		}
		for _, f := range r.tpl.fields {
			s.names[f.Name] = true
		}
		for _, f := range r.tpl.falco {
			s.addProgram(f.prog)
			s.addProgram(f.present)
		}
	}
	return s
}

func (s FieldSet) addProgram(p *vm.Program) {
	if p == nil {
		return
	}
	n := p.Node()
	c := &pathCollector{paths: map[ast.Node]string{}, inner: map[ast.Node]bool{}}
	ast.Walk(&n, c)
	for node, path := range c.paths {
		if !c.inner[node] {
			s.names[path] = true
		}
	}
}

// pathCollector finds the longest member chains over the event's roots
// (proc.stdin.rip): ast.Walk visits children first, so each chain's inner
// links are marked as such when their parent is visited.
type pathCollector struct {
	paths map[ast.Node]string
	inner map[ast.Node]bool
}

func (c *pathCollector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if roots[n.Value] {
			c.paths[n] = n.Value
		}
	case *ast.ChainNode:
		if p, ok := c.paths[n.Node]; ok {
			c.paths[n], c.inner[n.Node] = p, true
		}
	case *ast.MemberNode:
		base, ok := c.paths[n.Node]
		prop, isName := n.Property.(*ast.StringNode)
		if ok && isName {
			c.paths[n], c.inner[n.Node] = base+"."+prop.Value, true
		}
	}
}
