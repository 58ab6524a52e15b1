package engine

import (
	"errors"
	"fmt"
	"sync"

	"github.com/expr-lang/expr/vm"

	"github.com/ruled/ruled/sources/event"
)

// Filter is a compiled standalone condition (ruled events -filter).
type Filter struct {
	cond string
	prog *vm.Program
	pool sync.Pool
}

// CompileFilter compiles cond, which may use e's macros and lists (e may be
// nil). Errors read `condition: MSG (LINE:COL)`. Like a rules file, a
// condition that only Falco's parser accepts is Falco's language.
func CompileFilter(cond string, e *Engine) (*Filter, error) {
	lang := condLang(cond)
	f, err := CompileFilterLang(cond, lang, e)
	if err != nil && lang == LangExpr {
		// Some conditions parse in both (a and b, x in (l)): one that
		// only compiles as Falco's (its macros are Falco's) is Falco's.
		if ff, ferr := CompileFilterLang(cond, LangFalco, e); ferr == nil {
			return ff, nil
		}
	}
	return f, err
}

// CompileFilterLang is CompileFilter for a condition in lang; a Falco
// condition that needs data ruled does not collect is an error saying so.
func CompileFilterLang(cond string, lang Lang, e *Engine) (*Filter, error) {
	d := newDefs()
	if e != nil {
		d = e.defs
	}
	r := newResolver(d)
	node, err := r.parse(cond, lang, nil)
	if err != nil {
		return nil, filterError(cond, err)
	}
	prog, ce := typeCheck(node, cond)
	if ce != nil {
		return nil, filterError(cond, ce)
	}
	f := &Filter{cond: cond, prog: prog}
	f.pool.New = func() any { return newEvalState() }
	return f, nil
}

func filterError(cond string, err error) error {
	var ce *condError
	if !errors.As(err, &ce) {
		return fmt.Errorf("condition: %w", err)
	}
	_, _, pos := locate([]srcPart{{text: cond, line: 1}}, ce.from)
	return fmt.Errorf("condition: %s %s", ce.msg, pos)
}

// Match reports whether ev satisfies the filter; a runtime error is false.
func (f *Filter) Match(ev *event.Event) bool {
	st := f.pool.Get().(*evalState)
	out, err := st.vm.Run(f.prog, boxEvent(ev))
	f.pool.Put(st)
	if err != nil {
		return false
	}
	m, _ := out.(bool)
	return m
}
