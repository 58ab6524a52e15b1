package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/ruled/ruled/engine/falcolang"
	"github.com/ruled/ruled/sources/event"
)

// Options tune an Engine; the zero value is usable.
type Options struct {
	RateLimit RateLimit
	Hostname  string // Alert.Hostname; default os.Hostname()
	Logger    *slog.Logger
	Now       func() time.Time // default time.Now; the rate limiter's clock
}

// Rule is one compiled, enabled rule.
type Rule struct {
	Name     string
	Desc     string
	Output   string
	Priority event.Priority
	Tags     []string
	// Condition is the condition text after overrides, before expansion.
	Condition string
	// File and Line locate the rule's definition.
	File string
	Line int
	// Types are the evt.type values the condition requires, sorted; nil when
	// the rule may match any type.
	Types []string
	// pnames are the proc.name values the condition requires; nil = any.
	pnames []string
	// Lang is the language the condition is written in.
	Lang Lang

	prog *vm.Program // for the events the index sends it
	pre  prefilter   // false: prog would be false (nil: always run prog)
	full *vm.Program // for any event (tests compare it with prog)
	node ast.Node    // the condition's own AST, for the read guide
	tpl  *template

	bucket bucket

	matched    atomic.Uint64
	alerts     atomic.Uint64
	suppressed atomic.Uint64
	errors     atomic.Uint64
}

// Render returns the rule's output for ev and its output_fields.
func (r *Rule) Render(ev *event.Event) (string, map[string]any) {
	return r.tpl.render(ev)
}

// ruleList holds rules to run, in load order, and counts the events that
// ran them (so per-rule evaluated counts need no per-rule atomic on the hot
// path).
type ruleList struct {
	rules []*Rule
	count atomic.Uint64
}

// typeBucket holds the rules for one evt.type, split a second time by the
// proc.name values rules require: most execve rules name the programs they
// are about, and a benign exec should not run all of them.
type typeBucket struct {
	byName map[string]*ruleList // rules requiring that name + rules requiring none
	rest   *ruleList            // rules requiring no name
}

func newTypeBucket(rules []*Rule) *typeBucket {
	b := &typeBucket{byName: map[string]*ruleList{}, rest: &ruleList{}}
	for _, r := range rules {
		for _, n := range r.pnames {
			if b.byName[n] == nil {
				b.byName[n] = &ruleList{}
			}
		}
	}
	for _, r := range rules {
		if r.pnames == nil {
			b.rest.rules = append(b.rest.rules, r)
			for _, l := range b.byName {
				l.rules = append(l.rules, r)
			}
			continue
		}
		for _, n := range r.pnames {
			b.byName[n].rules = append(b.byName[n].rules, r)
		}
	}
	return b
}

func (b *typeBucket) lists() []*ruleList {
	out := []*ruleList{b.rest}
	for _, l := range b.byName {
		out = append(out, l)
	}
	return out
}

// Engine evaluates events against a loaded rule set. It is safe for
// concurrent use.
type Engine struct {
	rules    []*Rule
	byType   map[string]*typeBucket
	other    *typeBucket // types no rule names: only unconstrained rules
	nMacros  int
	nLists   int
	nDisable int
	defs     *defs // lists and macros for CompileFilter
	inactive []InactiveRule
	replaced []string // rules of one language replaced by the other's
	falco    FalcoCounts
	fields   FieldSet
	guide    *Guide

	pool     sync.Pool
	rate     RateLimit
	now      func() time.Time
	hostname string
	log      *slog.Logger
	lastErr  atomic.Int64 // unix nanos of the last runtime error log
	errCount atomic.Uint64
}

// New loads and compiles files in order. On any problem it returns a
// *LoadError listing all of them and no engine.
func New(files []File, opts Options) (*Engine, error) {
	d := newDefs()
	for _, f := range files {
		d.readFile(f)
	}
	e, problems := build(d)
	if len(problems) > 0 {
		return nil, &LoadError{Problems: problems}
	}
	e.rate = opts.RateLimit
	if e.rate.Rate == 0 {
		e.rate = DefaultRateLimit
	}
	if e.rate.Burst < 1 {
		e.rate.Burst = 1
	}
	e.now = opts.Now
	if e.now == nil {
		e.now = time.Now
	}
	e.hostname = opts.Hostname
	if e.hostname == "" {
		e.hostname, _ = os.Hostname()
	}
	e.log = opts.Logger
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.pool.New = func() any { return newEvalState() }
	for _, in := range e.inactive {
		e.log.Info("rule inactive", "rule", in.Name, "file", in.File, "line", in.Line, "reason", in.Reason)
	}
	if e.falco.Rules > 0 || e.falco.OtherSource > 0 {
		e.log.Info("falco-language rules", "active", e.falco.Active, "rules", e.falco.Rules, "inactive", e.falco.Inactive,
			"disabled", e.falco.Disabled, "other_source", e.falco.OtherSource)
	}
	return e, nil
}

// InactiveRule is a rule that loaded but does not run: it needs data ruled
// does not collect, or the other language's rule of its name runs instead.
type InactiveRule struct {
	Name   string
	File   string
	Line   int
	Lang   Lang
	Reason string
}

func (i InactiveRule) String() string {
	return fmt.Sprintf("%s:%d: rule %q: %s", i.File, i.Line, i.Name, i.Reason)
}

// FalcoCounts counts the Falco-language rules of a load.
type FalcoCounts struct {
	Rules       int // defined (after skipping other sources)
	Active      int // enabled and running
	Disabled    int // enabled: false in the files
	Inactive    int // need data ruled does not collect, or replaced by an expr rule
	OtherSource int // rules for another event source, skipped
}

// compiled is one rule after compilation: a runnable rule or why it is
// inactive.
type compiled struct {
	def    *ruleDef
	rule   *Rule
	reason string // inactive when set
}

func build(d *defs) (*Engine, []Problem) {
	r := newResolver(d)
	problems := d.problems
	for _, name := range d.listOrder {
		if _, err := r.resolveList(name, nil); err != nil {
			l := d.lists[name]
			r.problems = append(r.problems, Problem{File: l.file, Line: l.line, Item: itemLabel("list", l.name), Msg: err.Error()})
		}
	}
	for _, name := range d.macroOrd {
		r.checkMacro(name)
	}
	e := &Engine{byType: map[string]*typeBucket{}, nMacros: len(d.macros), nLists: len(d.lists), defs: d}
	results := map[string]*compiled{}
	for _, key := range d.ruleOrder {
		def := d.rules[key]
		if c := r.compileRule(def); c != nil {
			results[key] = c
		}
	}
	// A name defined in both languages: the later definition runs when it
	// can; otherwise the earlier one stays and the later one is inactive.
	for _, key := range d.ruleOrder {
		if !strings.HasPrefix(key, altKey("")) {
			continue
		}
		later, first := results[key], results[strings.TrimPrefix(key, altKey(""))]
		if later == nil || first == nil {
			continue
		}
		if later.reason == "" && later.def.enabled {
			first.rule, first.reason = nil, "dropped"
			e.replaced = append(e.replaced, fmt.Sprintf("%s:%d: rule %q (%s) replaces the %s rule of that name at %s:%d",
				later.def.file, later.def.line, later.def.name, later.def.lang, first.def.lang, first.def.file, first.def.line))
			continue
		}
		// A later definition that would not run (needs data ruled lacks,
		// or is disabled in its file) leaves the earlier one running.
		if first.reason == "" && first.def.enabled {
			if later.reason == "" {
				later.reason = "disabled in its file"
			}
			later.reason += fmt.Sprintf("; the %s rule of this name (%s:%d) runs instead", first.def.lang, first.def.file, first.def.line)
		}
	}
	var all []*Rule
	for _, key := range d.ruleOrder {
		c := results[key]
		if c == nil || c.reason == "dropped" {
			continue
		}
		if c.def.lang == LangFalco {
			e.falco.Rules++
		}
		switch {
		case c.reason != "":
			e.inactive = append(e.inactive, InactiveRule{Name: c.def.name, File: c.def.file, Line: c.def.line, Lang: c.def.lang, Reason: c.reason})
			if c.def.lang == LangFalco {
				e.falco.Inactive++
			}
		case !c.def.enabled:
			e.nDisable++
			if c.def.lang == LangFalco {
				e.falco.Disabled++
			}
		default:
			if c.def.lang == LangFalco {
				e.falco.Active++
			}
			all = append(all, c.rule)
		}
	}
	e.falco.OtherSource = d.otherSource
	problems = append(problems, r.problems...)
	if len(problems) > 0 {
		return nil, problems
	}
	e.rules = all
	e.fields = usedFields(all)
	e.guide = buildGuide(all)
	perType := map[string][]*Rule{}
	for _, t := range event.Types {
		perType[t] = nil
	}
	for _, rule := range all {
		for _, t := range rule.Types {
			perType[t] = nil
		}
	}
	// Each bucket lists its indexed rules and the unconstrained ones, in
	// load order, so evaluation order is the same with or without the index.
	var anyType []*Rule
	for _, rule := range all {
		if rule.Types == nil {
			for t := range perType {
				perType[t] = append(perType[t], rule)
			}
			anyType = append(anyType, rule)
			continue
		}
		for _, t := range rule.Types {
			perType[t] = append(perType[t], rule)
		}
	}
	for t, rules := range perType {
		e.byType[t] = newTypeBucket(rules)
	}
	e.other = newTypeBucket(anyType)
	return e, nil
}

// compileRule compiles one rule; nil when it has problems (reported in
// r.problems).
func (r *resolver) compileRule(def *ruleDef) *compiled {
	label := itemLabel("rule", def.name)
	text := joinParts(def.cond)
	r.skipUnknown = def.skipUnknown
	defer func() { r.skipUnknown = false }()
	node, missing, ok := r.ruleAST(def, label)
	if !ok {
		return nil
	}
	if missing != "" {
		if _, err := parseTemplate(def.output, def.lang); err != nil {
			r.problems = append(r.problems, Problem{File: def.outputFile, Line: def.outputLine, Item: label, Msg: err.Error()})
			return nil
		}
		return &compiled{def: def, reason: "needs " + missing + ", which ruled does not collect"}
	}
	types, constrained := requiredTypes(node)
	pnames, nameConstrained := requiredValues(node, "proc.name")
	if constrained && def.lang == LangFalco && len(types) == 0 {
		return &compiled{def: def, reason: "its evt.type tests exclude every event type ruled produces"}
	}
	if constrained && def.lang == LangFalco && len(types) > 0 {
		var none []string
		for t := range types {
			if falcolang.Produced(t) {
				none = nil
				break
			}
			none = append(none, t)
		}
		if len(none) > 0 {
			sort.Strings(none)
			return &compiled{def: def, reason: "needs event type " + strings.Join(none, ", ") + ", which ruled does not produce"}
		}
	}
	full, ce := typeCheck(node, text)
	if ce != nil {
		r.condProblem(def.cond, label, ce)
		return nil
	}
	prog := full
	var pre prefilter
	if constrained && len(types) == 1 {
		// The rule only ever runs on events of its one type: fold the
		// evt.type tests to constants so it does not re-check them.
		folded, _, _ := r.ruleAST(def, label)
		foldType(&folded, sortedKeys(types)[0])
		// Built before typeCheck, which may rewrite the tree.
		pre = newPrefilter(folded)
		if p, ce := typeCheck(folded, text); ce == nil {
			prog = p
		} else {
			pre = nil
		}
	}
	tpl, err := parseTemplate(def.output, def.lang)
	if err != nil {
		r.problems = append(r.problems, Problem{File: def.outputFile, Line: def.outputLine, Item: label, Msg: err.Error()})
		return nil
	}
	rule := &Rule{Name: def.name, Desc: def.desc, Output: def.output, Priority: def.priority, Tags: def.tags,
		Condition: text, File: def.file, Line: def.line, prog: prog, full: full, tpl: tpl, Lang: def.lang}
	if own, _, ok := r.ruleAST(def, label); ok {
		rule.node = own // a fresh tree: typeCheck may have rewritten node
		if prog == full {
			rule.pre = newPrefilter(own)
		}
	}
	if prog != full {
		rule.pre = pre
	}
	if constrained {
		rule.Types = sortedKeys(types)
		if rule.Types == nil {
			rule.Types = []string{} // requires contradictory types: never matches
		}
	}
	if nameConstrained {
		rule.pnames = sortedKeys(pnames)
		if rule.pnames == nil {
			rule.pnames = []string{}
		}
	}
	return &compiled{def: def, rule: rule}
}

// Inactive returns the rules that loaded but do not run, with why.
func (e *Engine) Inactive() []InactiveRule { return e.inactive }

// Replaced describes each rule name defined in both languages whose later
// definition replaced the earlier one.
func (e *Engine) Replaced() []string { return e.replaced }

// Falco returns the counts of Falco-language rules.
func (e *Engine) Falco() FalcoCounts { return e.falco }

// Rules returns the enabled rules in load order.
func (e *Engine) Rules() []*Rule { return e.rules }

// Summary counts what was loaded: enabled rules, disabled rules, macros, lists.
func (e *Engine) Summary() (rules, disabled, macros, lists int) {
	return len(e.rules), e.nDisable, e.nMacros, e.nLists
}

// evalState is one worker's reusable evaluation scratch.
type evalState struct {
	vm      vm.VM
	matched []*Rule
}

func newEvalState() *evalState { return &evalState{} }

// match runs the rules for ev's type and leaves the matching ones in
// st.matched.
func (e *Engine) match(st *evalState, ev *event.Event) {
	tb := e.byType[ev.Evt.Type]
	if tb == nil {
		tb = e.other
	}
	b := tb.byName[ev.Proc.Name]
	if b == nil {
		b = tb.rest
	}
	b.count.Add(1)
	if len(b.rules) == 0 {
		return
	}
	env := boxEvent(ev)
	for _, r := range b.rules {
		if r.pre != nil && r.pre(ev) == triFalse {
			continue
		}
		out, err := st.vm.Run(r.prog, env)
		if err != nil {
			r.errors.Add(1)
			e.runtimeError(r, err)
			continue
		}
		if m, _ := out.(bool); m {
			r.matched.Add(1)
			st.matched = append(st.matched, r)
		}
	}
}

func (e *Engine) runtimeError(r *Rule, err error) {
	e.errCount.Add(1)
	now := time.Now().UnixNano()
	last := e.lastErr.Load()
	if now-last < int64(10*time.Second) || !e.lastErr.CompareAndSwap(last, now) {
		return
	}
	e.log.Warn("rule runtime error", "rule", r.Name, "err", err, "errors_total", e.errCount.Load())
}

// Match returns the enabled rules matching ev, without rate limiting or
// building alerts.
func (e *Engine) Match(ev *event.Event) []*Rule {
	st := e.pool.Get().(*evalState)
	e.match(st, ev)
	var out []*Rule
	if len(st.matched) > 0 {
		out = append(out, st.matched...)
	}
	st.matched = st.matched[:0]
	e.pool.Put(st)
	return out
}

// Eval returns an alert for every matching rule the rate limiter lets
// through.
func (e *Engine) Eval(ev *event.Event) []event.Alert {
	st := e.pool.Get().(*evalState)
	e.match(st, ev)
	var alerts []event.Alert
	if len(st.matched) > 0 {
		now := e.now()
		for _, r := range st.matched {
			ok, suppressed := r.bucket.take(e.rate, now)
			if !ok {
				r.suppressed.Add(1)
				continue
			}
			r.alerts.Add(1)
			alerts = append(alerts, e.alert(r, ev, now, suppressed))
		}
	}
	st.matched = st.matched[:0]
	e.pool.Put(st)
	return alerts
}

func (e *Engine) alert(r *Rule, ev *event.Event, now time.Time, suppressed uint64) event.Alert {
	out, fields := r.Render(ev)
	t := ev.Evt.Time
	if t.IsZero() {
		t = now
	}
	return event.Alert{Time: t, Rule: r.Name, Priority: r.Priority, Output: out, OutputFields: fields,
		Source: event.AlertSource, Tags: r.Tags, Hostname: e.hostname, Suppressed: suppressed, Event: ev}
}

// Stats are counters since the engine was built.
type Stats struct {
	Events     uint64 // events evaluated
	Matched    uint64 // rule matches, before rate limiting
	Alerts     uint64 // alerts emitted
	Suppressed uint64 // alerts held back by the rate limiter
	Errors     uint64 // program runtime errors (rule treated as not matching)
	// FalcoActive of FalcoRules Falco-language rules run (the others need
	// data ruled does not collect, or are disabled in their files).
	FalcoActive int
	FalcoRules  int
	Rules       []RuleStats
}

// RuleStats are one rule's counters.
type RuleStats struct {
	Name       string
	Evaluated  uint64
	Matched    uint64
	Alerts     uint64
	Suppressed uint64
	Errors     uint64
}

// Stats returns the current counters.
func (e *Engine) Stats() Stats {
	s := Stats{FalcoActive: e.falco.Active, FalcoRules: e.falco.Rules}
	evaluated := map[*Rule]uint64{}
	add := func(tb *typeBucket) {
		for _, b := range tb.lists() {
			n := b.count.Load()
			s.Events += n
			for _, r := range b.rules {
				evaluated[r] += n
			}
		}
	}
	for _, b := range e.byType {
		add(b)
	}
	add(e.other)
	for _, r := range e.rules {
		rs := RuleStats{Name: r.Name, Evaluated: evaluated[r], Matched: r.matched.Load(), Alerts: r.alerts.Load(),
			Suppressed: r.suppressed.Load(), Errors: r.errors.Load()}
		s.Matched += rs.Matched
		s.Alerts += rs.Alerts
		s.Suppressed += rs.Suppressed
		s.Errors += rs.Errors
		s.Rules = append(s.Rules, rs)
	}
	return s
}

// String is a one-line summary for logs.
func (s Stats) String() string {
	return fmt.Sprintf("events=%d matched=%d alerts=%d suppressed=%d errors=%d falco_rules_active=%d/%d", s.Events, s.Matched, s.Alerts, s.Suppressed, s.Errors, s.FalcoActive, s.FalcoRules)
}

// ruleAST builds a rule's expanded condition with its exceptions:
// cond and not (exception or ...).
func (r *resolver) ruleAST(def *ruleDef, label string) (node ast.Node, missing string, ok bool) {
	node, err := r.parse(joinParts(def.cond), def.lang, nil)
	if err != nil {
		var ce *condError
		if errors.As(err, &ce) && ce.missing != "" {
			return nil, ce.missing, true
		}
		r.condProblem(def.cond, label, err)
		return nil, "", false
	}
	var exc ast.Node
	good := true
	for _, x := range def.exceptions {
		xn, err := r.exceptionAST(x, def.lang)
		var ce *condError
		if errors.As(err, &ce) && ce.missing != "" {
			return nil, ce.missing, true
		}
		if err != nil {
			line := x.line
			var le *lineError
			if errors.As(err, &le) {
				line = le.line
			}
			r.problems = append(r.problems, Problem{File: x.file, Line: line, Item: label, Msg: "exceptions: " + err.Error()})
			good = false
			continue
		}
		if xn != nil {
			exc = or(exc, xn)
		}
	}
	if !good {
		return nil, "", false
	}
	if exc != nil {
		node = &ast.BinaryNode{Operator: "and", Left: node, Right: &ast.UnaryNode{Operator: "not", Node: exc}}
	}
	return node, "", true
}

// String is a one-line summary for validate and the engine stats line.
func (c FalcoCounts) String() string {
	pct := 0.0
	if c.Rules > 0 {
		pct = 100 * float64(c.Active) / float64(c.Rules)
	}
	return fmt.Sprintf("Falco-language rules: %d active of %d (%.0f%%), %d inactive (each listed with why), %d disabled in their files, %d for other sources skipped",
		c.Active, c.Rules, pct, c.Inactive, c.Disabled, c.OtherSource)
}
