package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/ruled/ruled/engine/falcolang"
	"github.com/ruled/ruled/sources/event"
	"gopkg.in/yaml.v3"
)

// shown strips the namespace prefix of Falco-language macros and lists
// from a message meant for people.
func shown(s string) string { return strings.ReplaceAll(s, falcolang.MacroPrefix, "") }

// falcoEnv resolves a Falco condition's macro and list names in the Falco
// namespace.
type falcoEnv struct{ r *resolver }

func (e falcoEnv) IsMacro(name string) bool {
	_, ok := e.r.macros[falcolang.MacroPrefix+name]
	return ok
}

func (e falcoEnv) List(name string) ([]string, bool, error) {
	key := falcolang.MacroPrefix + name
	if _, ok := e.r.lists[key]; !ok {
		return nil, false, nil
	}
	nodes, err := e.r.resolveList(key, nil)
	if err != nil {
		return nil, true, err
	}
	out := make([]string, len(nodes))
	for i, n := range nodes {
		switch v := n.(type) {
		case *ast.StringNode:
			// Falco splices list items into the condition as text, so an
			// item written with quotes ('"10.0.0.0/8"') is a quoted value.
			out[i] = falcolang.Unquote(v.Value)
		case *ast.IntegerNode:
			out[i] = strconv.Itoa(v.Value)
		}
	}
	return out, true, nil
}

func (e falcoEnv) MacroBody(name string) falcolang.Node {
	m, ok := e.r.macros[falcolang.MacroPrefix+name]
	if !ok || m.lang != LangFalco {
		return nil
	}
	text := joinParts(m.cond)
	if n, ok := e.r.falcoASTs[text]; ok {
		return n
	}
	n, err := falcolang.Parse(text)
	if err != nil {
		n = nil
	}
	if e.r.falcoASTs == nil {
		e.r.falcoASTs = map[string]falcolang.Node{}
	}
	e.r.falcoASTs[text] = n
	return n
}

// compileFalco translates a Falco-language condition to expr text. A
// macro's text is translated once per load (macros are expanded wherever
// they are used).
func (r *resolver) compileFalco(text string) (string, error) {
	if r.skipUnknown {
		// The outcome depends on the rule being built: no cache.
		return r.compileFalcoText(text)
	}
	if c, ok := r.falcoCache[text]; ok {
		return c.expr, c.err
	}
	s, err := r.compileFalcoText(text)
	if r.falcoCache == nil {
		r.falcoCache = map[string]falcoCompiled{}
	}
	r.falcoCache[text] = falcoCompiled{s, err}
	return s, err
}

type falcoCompiled struct {
	expr string
	err  error
}

func (r *resolver) compileFalcoText(text string) (string, error) {
	n, err := falcolang.Parse(text)
	if err == nil {
		var s string
		s, err = falcolang.Compile(n, falcoEnv{r})
		if err == nil {
			return s, nil
		}
	}
	runeAt := func(off int) int {
		if off > len(text) {
			off = len(text)
		}
		return utf8.RuneCountInString(text[:off])
	}
	var se *falcolang.SyntaxError
	var ce *falcolang.CompileError
	var me *falcolang.MissingError
	switch {
	case errors.As(err, &se):
		return "", &condError{from: runeAt(se.Offset), msg: se.Msg}
	case errors.As(err, &me):
		return "", &condError{from: runeAt(me.Offset), msg: me.Error(), missing: me.What}
	case errors.As(err, &ce):
		if r.skipUnknown && strings.HasPrefix(ce.Msg, "unknown field") {
			return "", &condError{from: runeAt(ce.Offset), msg: ce.Msg, missing: strings.TrimPrefix(ce.Msg, "unknown ")}
		}
		return "", &condError{from: runeAt(ce.Offset), msg: ce.Msg}
	}
	return "", &condError{msg: fmt.Sprintf("%v", err)}
}

// falcoField is one %field of a Falco-language rule's output.
type falcoField struct {
	name    string
	prog    *vm.Program // nil: ruled has no data for the field (<NA>)
	present *vm.Program // nil: always present
	// plain is the ruled field the Falco field is, when it is one as is:
	// its unknown values (event.Field.Unknown) print <NA> as ruled's own.
	plain *event.Field
}

var falcoFields sync.Map // name -> *falcoField

func newFalcoField(name string) *falcoField {
	if v, ok := falcoFields.Load(name); ok {
		return v.(*falcoField)
	}
	f := &falcoField{name: name}
	val, present, err := falcolang.FieldExpr(name)
	if pf, ok := event.Lookup(val); ok && err == nil {
		f.plain = pf
	}
	if err == nil {
		opts := append([]expr.Option{expr.Env(event.Event{})}, falcolang.Functions()...)
		if p, err := expr.Compile(val, opts...); err == nil {
			f.prog = p
		}
		if present != "" {
			if p, err := expr.Compile(present, append(opts, expr.AsBool())...); err == nil {
				f.present = p
			} else {
				f.prog = nil
			}
		}
	}
	v, _ := falcoFields.LoadOrStore(name, f)
	return v.(*falcoField)
}

// value is the field's value in ev, nil when Falco would print <NA>.
func (f *falcoField) value(ev *event.Event) any {
	if f.prog == nil || f.plain != nil && f.plain.Unknown(ev) {
		return nil
	}
	// On the event itself and a reused VM: expr.Run on a copy of the event
	// boxed the event (1.4 KB) and made a VM per field, 40 µs and 21 KB for
	// an alert of six fields.
	m := fieldVMs.Get().(*vm.VM)
	defer fieldVMs.Put(m)
	env := boxEvent(ev)
	if f.present != nil {
		if ok, err := m.Run(f.present, env); err != nil || ok != true {
			return nil
		}
	}
	v, err := m.Run(f.prog, env)
	if err != nil {
		return nil
	}
	return v
}

var fieldVMs = sync.Pool{New: func() any { return new(vm.VM) }}

// falcoExceptionText writes one exception as a Falco condition:
// (f1 op v1 and f2 op v2) or (...).
func (r *resolver) falcoExceptionText(e *exceptionDef) (string, error) {
	if len(e.fields) == 0 {
		return "", fmt.Errorf("exception %s: no fields", e.name)
	}
	listOp := func(op string) bool { return falcolang.IsListOp(strings.ToLower(op)) }
	valueText := func(op string, v *yaml.Node) (string, error) {
		if listOp(op) {
			switch v.Kind {
			case yaml.SequenceNode:
				parts := make([]string, len(v.Content))
				for i, it := range v.Content {
					if it.Kind != yaml.ScalarNode {
						return "", fmt.Errorf("exception %s: %s values must be scalars", e.name, op)
					}
					parts[i] = falcolang.Quote(it.Value)
				}
				return "(" + strings.Join(parts, ", ") + ")", nil
			case yaml.ScalarNode:
				if _, ok := r.lists[falcolang.MacroPrefix+v.Value]; ok {
					return "(" + v.Value + ")", nil
				}
				return "(" + falcolang.Quote(v.Value) + ")", nil
			}
			return "", fmt.Errorf("exception %s: %s wants a list of values or a list name", e.name, op)
		}
		if v.Kind != yaml.ScalarNode {
			return "", fmt.Errorf("exception %s: %s wants a single value", e.name, op)
		}
		return falcolang.Quote(v.Value), nil
	}
	var alts []string
	if e.single {
		if len(e.values) == 0 {
			return "", nil
		}
		op := e.comps[0]
		if listOp(op) {
			v, err := valueText(op, &yaml.Node{Kind: yaml.SequenceNode, Content: e.values})
			if err != nil {
				return "", err
			}
			return e.fields[0] + " " + op + " " + v, nil
		}
		for _, v := range e.values {
			t, err := valueText(op, v)
			if err != nil {
				return "", err
			}
			alts = append(alts, e.fields[0]+" "+op+" "+t)
		}
		return strings.Join(alts, " or "), nil
	}
	for _, tuple := range e.values {
		if tuple.Kind != yaml.SequenceNode || len(tuple.Content) != len(e.fields) {
			return "", &lineError{line: tuple.Line, err: fmt.Errorf("exception %s: each value must be a list of %d values (one per field)", e.name, len(e.fields))}
		}
		var conj []string
		for i, v := range tuple.Content {
			t, err := valueText(e.comps[i], v)
			if err != nil {
				return "", &lineError{line: v.Line, err: err}
			}
			conj = append(conj, e.fields[i]+" "+e.comps[i]+" "+t)
		}
		alts = append(alts, "("+strings.Join(conj, " and ")+")")
	}
	return strings.Join(alts, " or "), nil
}

// falcoExceptionAST compiles a Falco-language rule's exception.
func (r *resolver) falcoExceptionAST(e *exceptionDef) (ast.Node, error) {
	text, err := r.falcoExceptionText(e)
	if err != nil || text == "" {
		return nil, err
	}
	n, err := r.parse(text, LangFalco, nil)
	if err != nil {
		var ce *condError
		if errors.As(err, &ce) {
			if ce.missing != "" {
				return nil, ce
			}
			return nil, fmt.Errorf("exception %s: %s (in %s)", e.name, shown(ce.msg), text)
		}
		return nil, err
	}
	return n, nil
}
