package engine

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/ruled/ruled/engine/falcolang"
	"github.com/ruled/ruled/sources/event"
	"gopkg.in/yaml.v3"
)

// roots are the top-level names of event.Event in conditions.
var roots = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range event.Fields() {
		m[strings.SplitN(f.Name, ".", 2)[0]] = true
	}
	return m
}()

// prefixes holds every dotted struct path ("proc", "proc.stdin").
var prefixes = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range event.Fields() {
		parts := strings.Split(f.Name, ".")
		for i := 1; i < len(parts); i++ {
			m[strings.Join(parts[:i], ".")] = true
		}
	}
	return m
}()

func newConfig() *conf.Config {
	c := conf.New(event.Event{})
	for _, opt := range falcolang.Functions() {
		opt(c)
	}
	c.Expect = reflect.Bool
	c.Check()
	return c
}

// resolver expands lists and macros into condition trees, checking each
// macro once.
type resolver struct {
	lists      map[string]*listDef
	macros     map[string]*macroDef
	listVals   map[string][]ast.Node // resolved items, built on demand
	macroState map[string]int        // 0 unseen, 1 in progress, 2 done
	macroBad   map[string]bool
	// macroMissing holds, for a Falco-language macro that needs data ruled
	// does not collect, what it needs (not a load problem: rules using it
	// load disabled).
	macroMissing map[string]string
	// skipUnknown: the rule being built has skip-if-unknown-filter.
	skipUnknown bool
	// falcoCache holds Falco-language texts translated to expr, and
	// falcoASTs parsed macro bodies, for this load.
	falcoCache map[string]falcoCompiled
	falcoASTs  map[string]falcolang.Node
	macroSize  map[string]int // nodes of the expanded macro
	problems   []Problem
	// expanded counts macro nodes spliced into the condition being built
	// (at depth 0), to stop a chain of macros that each use the previous
	// one twice from growing the tree exponentially.
	expanded int
	depth    int
}

// maxListItems bounds a list after expanding the lists it names.
const maxListItems = 100000

// maxExpandedNodes bounds a condition after macro expansion.
const maxExpandedNodes = 50000

func countNodes(n ast.Node) int {
	c := 0
	ast.Find(n, func(ast.Node) bool { c++; return false })
	return c
}

func newResolver(d *defs) *resolver {
	return &resolver{lists: d.lists, macros: d.macros, listVals: map[string][]ast.Node{},
		macroState: map[string]int{}, macroBad: map[string]bool{}, macroSize: map[string]int{}, macroMissing: map[string]string{}}
}

// condError is a compile problem at a rune offset of the condition text.
type condError struct {
	from int
	msg  string
	// inherited: the problem is a broken macro or list already reported.
	inherited bool
	// missing: not a problem but data ruled does not collect (a Falco
	// field or event type); the rule loads disabled.
	missing string
}

func (e *condError) Error() string { return e.msg }

// resolveList returns the items of list name as literal nodes, expanding
// lists named among its items.
func (r *resolver) resolveList(name string, stack []string) ([]ast.Node, error) {
	if v, ok := r.listVals[name]; ok {
		return v, nil
	}
	for _, s := range stack {
		if s == name {
			return nil, fmt.Errorf("list cycle: %s -> %s", shown(strings.Join(stack, " -> ")), shown(name))
		}
	}
	l := r.lists[name]
	var out []ast.Node
	for _, it := range l.items {
		ref := it.Value
		if strings.HasPrefix(name, falcolang.MacroPrefix) {
			ref = falcolang.MacroPrefix + ref
		}
		if _, ok := r.lists[ref]; ok && it.Tag == "!!str" && it.Style == 0 {
			sub, err := r.resolveList(ref, append(stack, name))
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, scalarNode(it))
	}
	if len(out) > maxListItems {
		// Lists naming other lists several times grow exponentially.
		return nil, fmt.Errorf("list too large after expanding nested lists (over %d items)", maxListItems)
	}
	r.listVals[name] = out
	return out, nil
}

func scalarNode(n *yaml.Node) ast.Node {
	if n.Tag == "!!int" {
		if v, err := strconv.Atoi(n.Value); err == nil {
			return &ast.IntegerNode{Value: v}
		}
	}
	return &ast.StringNode{Value: n.Value}
}

// parse parses text in its language and expands macros and lists in place.
func (r *resolver) parse(text string, lang Lang, stack []string) (ast.Node, error) {
	src := rewriteSpellings(text)
	if lang == LangFalco {
		var err error
		if src, err = r.compileFalco(text); err != nil {
			return nil, err
		}
	}
	tree, err := parser.Parse(src)
	if err != nil {
		if lang == LangFalco {
			return nil, &condError{msg: fmt.Sprintf("internal: the expr form %q of this condition does not parse: %v", src, err)}
		}
		hint := ""
		if _, ferr := falcolang.Parse(text); ferr == nil {
			hint = " (this condition is Falco's language; the file is read as expr because other conditions are: add # ruled: language=falco to read it as Falco's)"
		}
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, &condError{from: fe.From, msg: fe.Message + hint}
		}
		return nil, &condError{msg: err.Error()}
	}
	node := tree.Node
	if len(stack) == 0 {
		r.expanded = 0
	}
	if err := r.expand(&node, false, stack, declared(node)); err != nil {
		return nil, err
	}
	return node, nil
}

// declared collects names bound by let and predicates' closures are pointer
// nodes, so only let needs this.
func declared(n ast.Node) map[string]bool {
	m := map[string]bool{}
	ast.Find(n, func(x ast.Node) bool {
		if v, ok := x.(*ast.VariableDeclaratorNode); ok {
			m[v.Name] = true
		}
		return false
	})
	return m
}

// expand replaces bare identifiers naming macros or lists, and checks
// dotted field names against the event registry.
func (r *resolver) expand(np *ast.Node, memberBase bool, stack []string, lets map[string]bool) error {
	switch n := (*np).(type) {
	case *ast.IdentifierNode:
		if memberBase {
			if !roots[n.Value] {
				return &condError{from: n.Location().From, msg: fmt.Sprintf("unknown field %s", n.Value)}
			}
			return nil
		}
		if _, ok := r.macros[n.Value]; ok {
			if r.depth == 0 && !slices.Contains(stack, n.Value) {
				r.checkMacro(n.Value)
				r.expanded += r.macroSize[n.Value]
				if r.expanded > maxExpandedNodes {
					return &condError{from: n.Location().From, msg: fmt.Sprintf("condition too large after expanding macros (over %d nodes)", maxExpandedNodes)}
				}
			}
			sub, err := r.macroAST(n.Value, stack)
			if err != nil {
				var ce *condError
				if errors.As(err, &ce) && (ce.inherited || ce.missing != "") {
					return &condError{from: n.Location().From, msg: ce.msg, inherited: ce.inherited, missing: ce.missing}
				}
				return &condError{from: n.Location().From, msg: err.Error()}
			}
			relocate(sub, n.Location())
			*np = sub
			return nil
		}
		if _, ok := r.lists[n.Value]; ok {
			items, err := r.resolveList(n.Value, nil)
			if err != nil {
				return &condError{from: n.Location().From, msg: fmt.Sprintf("list %s: %v", n.Value, err)}
			}
			arr := &ast.ArrayNode{Nodes: make([]ast.Node, len(items))}
			for i, it := range items {
				switch v := it.(type) {
				case *ast.IntegerNode:
					arr.Nodes[i] = &ast.IntegerNode{Value: v.Value}
				case *ast.StringNode:
					arr.Nodes[i] = &ast.StringNode{Value: v.Value}
				}
			}
			relocate(arr, n.Location())
			*np = arr
			return nil
		}
		if roots[n.Value] || lets[n.Value] {
			return nil
		}
		return &condError{from: n.Location().From, msg: fmt.Sprintf("unknown field, macro or list %s", n.Value)}
	case *ast.MemberNode:
		if name, ok := dotted(n); ok && roots[strings.SplitN(name, ".", 2)[0]] {
			if err := checkField(name); err != nil {
				return &condError{from: n.Location().From, msg: err.Error()}
			}
			return nil
		}
		if err := r.expand(&n.Node, true, stack, lets); err != nil {
			return err
		}
		return r.expand(&n.Property, false, stack, lets)
	case *ast.UnaryNode:
		return r.expand(&n.Node, false, stack, lets)
	case *ast.BinaryNode:
		if err := r.expand(&n.Left, false, stack, lets); err != nil {
			return err
		}
		return r.expand(&n.Right, false, stack, lets)
	case *ast.ChainNode:
		return r.expand(&n.Node, false, stack, lets)
	case *ast.SliceNode:
		for _, p := range []*ast.Node{&n.Node, &n.From, &n.To} {
			if *p != nil {
				if err := r.expand(p, false, stack, lets); err != nil {
					return err
				}
			}
		}
	case *ast.CallNode:
		for i := range n.Arguments {
			if err := r.expand(&n.Arguments[i], false, stack, lets); err != nil {
				return err
			}
		}
	case *ast.BuiltinNode:
		for i := range n.Arguments {
			if err := r.expand(&n.Arguments[i], false, stack, lets); err != nil {
				return err
			}
		}
	case *ast.PredicateNode:
		return r.expand(&n.Node, false, stack, lets)
	case *ast.VariableDeclaratorNode:
		if err := r.expand(&n.Value, false, stack, lets); err != nil {
			return err
		}
		return r.expand(&n.Expr, false, stack, lets)
	case *ast.SequenceNode:
		for i := range n.Nodes {
			if err := r.expand(&n.Nodes[i], false, stack, lets); err != nil {
				return err
			}
		}
	case *ast.ConditionalNode:
		for _, p := range []*ast.Node{&n.Cond, &n.Exp1, &n.Exp2} {
			if err := r.expand(p, false, stack, lets); err != nil {
				return err
			}
		}
	case *ast.ArrayNode:
		for i := range n.Nodes {
			if err := r.expand(&n.Nodes[i], false, stack, lets); err != nil {
				return err
			}
		}
	case *ast.MapNode:
		for i := range n.Pairs {
			if err := r.expand(&n.Pairs[i], false, stack, lets); err != nil {
				return err
			}
		}
	case *ast.PairNode:
		if err := r.expand(&n.Key, false, stack, lets); err != nil {
			return err
		}
		return r.expand(&n.Value, false, stack, lets)
	}
	return nil
}

// dotted returns "a.b.c" for a member chain of constant names rooted at an
// identifier.
func dotted(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		return x.Value, true
	case *ast.MemberNode:
		if x.Optional {
			return "", false
		}
		s, ok := x.Property.(*ast.StringNode)
		if !ok {
			return "", false
		}
		base, ok := dotted(x.Node)
		if !ok {
			return "", false
		}
		return base + "." + s.Value, true
	}
	return "", false
}

// checkField accepts a field, a struct prefix, or a map field followed by
// a key (container.labels.app, container.labels["app"]).
func checkField(name string) error {
	if _, ok := event.Lookup(name); ok || prefixes[name] {
		return nil
	}
	parts := strings.Split(name, ".")
	for i := len(parts) - 1; i > 0; i-- {
		if f, ok := event.Lookup(strings.Join(parts[:i], ".")); ok {
			if f.Kind == event.KindMap && i == len(parts)-1 {
				return nil
			}
			return fmt.Errorf("field %s has no member %s", f.Name, strings.Join(parts[i:], "."))
		}
	}
	return fmt.Errorf("unknown field %s", name)
}

// relocate points every node of a spliced macro or list at the identifier
// it replaced, so errors in the rule point at the macro's name.
func relocate(n ast.Node, loc file.Location) {
	ast.Find(n, func(x ast.Node) bool {
		x.SetLocation(loc)
		return false
	})
}

// macroAST returns a fresh expanded AST of macro name (fresh because the
// checker and optimizer annotate and rewrite nodes in place). A macro with
// errors is reported once, at its definition; users get an inherited error.
func (r *resolver) macroAST(name string, stack []string) (ast.Node, error) {
	for _, s := range stack {
		if s == name {
			return nil, fmt.Errorf("macro cycle: %s -> %s", shown(strings.Join(stack, " -> ")), shown(name))
		}
	}
	r.checkMacro(name)
	if r.macroBad[name] {
		return nil, &condError{msg: fmt.Sprintf("uses macro %s, which has errors", shown(name)), inherited: true}
	}
	if m := r.macroMissing[name]; m != "" {
		return nil, &condError{msg: m, missing: m}
	}
	r.depth++
	defer func() { r.depth-- }()
	m := r.macros[name]
	return r.parse(joinParts(m.cond), m.lang, append(stack, name))
}

// checkMacro compiles macro name on its own once and reports its problems.
func (r *resolver) checkMacro(name string) {
	if r.macroState[name] != 0 {
		return
	}
	r.macroState[name] = 1
	defer func() { r.macroState[name] = 2 }()
	m := r.macros[name]
	text := joinParts(m.cond)
	savedExp, savedDepth := r.expanded, r.depth
	r.expanded, r.depth = 0, 0
	n, err := r.parse(text, m.lang, []string{name})
	r.expanded, r.depth = savedExp, savedDepth
	if err == nil {
		r.macroSize[name] = countNodes(n)
		if r.macroSize[name] > maxExpandedNodes {
			err = &condError{msg: fmt.Sprintf("condition too large after expanding macros (over %d nodes)", maxExpandedNodes)}
		}
	}
	if err == nil {
		if _, ce := typeCheck(n, text); ce != nil {
			err = ce
		}
	}
	if err == nil {
		return
	}
	var ce *condError
	if errors.As(err, &ce) && ce.missing != "" {
		r.macroMissing[name] = ce.missing
		return
	}
	r.macroBad[name] = true
	r.condProblem(m.cond, itemLabel("macro", m.name), err)
}

// condProblem reports a condition error at the FILE:LINE its offset maps to.
func (r *resolver) condProblem(parts []srcPart, label string, err error) {
	ce, ok := err.(*condError)
	if !ok {
		ce = &condError{msg: err.Error()}
	}
	if ce.inherited {
		return
	}
	f, line, pos := locate(parts, ce.from)
	r.problems = append(r.problems, Problem{File: f, Line: line, Item: label, Msg: "condition: " + shown(ce.msg) + " " + pos})
}

func joinParts(ps []srcPart) string {
	texts := make([]string, len(ps))
	for i, p := range ps {
		texts[i] = p.text
	}
	return strings.Join(texts, " ")
}

// locate maps a rune offset in the joined condition back to the part it
// falls in: file, absolute line, and the expr-style (line:col) in the part.
func locate(ps []srcPart, from int) (file string, line int, pos string) {
	off := 0
	for i, p := range ps {
		n := utf8.RuneCountInString(p.text)
		if from < off+n || i == len(ps)-1 {
			local := max(from-off, 0)
			l, c := 1, 1
			for j, ch := range []rune(p.text) {
				if j >= local {
					break
				}
				if ch == '\n' {
					l++
					c = 1
				} else {
					c++
				}
			}
			return p.file, p.line + l - 1, fmt.Sprintf("(%d:%d)", l, c)
		}
		off += n + 1 // the joining space
	}
	return "", 0, ""
}

// typeCheck checks node as a bool condition, then optimizes and compiles it.
func typeCheck(node ast.Node, text string) (*vm.Program, *condError) {
	cfg := newConfig()
	tree := &parser.Tree{Node: node, Source: file.NewSource(text)}
	if _, err := checker.Check(tree, cfg); err != nil {
		ce := &condError{msg: err.Error()}
		var fe *file.Error
		if errors.As(err, &fe) {
			ce = &condError{from: fe.From, msg: fe.Message}
		}
		if hint := notHint(tree.Node); hint != "" {
			ce.msg += "; " + hint
		}
		return nil, ce
	}
	if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
		return nil, &condError{msg: err.Error()}
	}
	prog, err := compiler.Compile(tree, cfg)
	if err != nil {
		return nil, &condError{msg: err.Error()}
	}
	return prog, nil
}

// notHint explains expr's precedence trap: `not a == b` is `(not a) == b`.
func notHint(n ast.Node) string {
	var hint string
	ast.Find(n, func(x ast.Node) bool {
		b, ok := x.(*ast.BinaryNode)
		if !ok || hint != "" {
			return false
		}
		switch b.Operator {
		case "==", "!=", "<", "<=", ">", ">=", "in", "contains", "startsWith", "endsWith", "matches":
		default:
			return false
		}
		if u, ok := b.Left.(*ast.UnaryNode); ok && (u.Operator == "not" || u.Operator == "!") {
			hint = fmt.Sprintf("`not` binds tighter than %s: write not (%s %s %s)", b.Operator, u.Node.String(), b.Operator, b.Right.String())
		}
		return false
	})
	return hint
}
