package engine

import (
	"fmt"
	"strings"

	"github.com/ruled/ruled/engine/falcolang"
	"github.com/ruled/ruled/sources/event"
	"gopkg.in/yaml.v3"
)

// srcPart is one piece of a condition's text with where it came from, so a
// condition built by appends still reports errors at the right FILE:LINE.
type srcPart struct {
	file string
	line int
	text string
}

type listDef struct {
	name  string
	file  string
	line  int
	items []*yaml.Node // scalars
}

type macroDef struct {
	name string
	file string
	line int
	cond []srcPart
	lang Lang
}

type exceptionDef struct {
	name   string
	fields []string
	single bool // fields was a scalar: values are scalars, comp defaults to "in"
	comps  []string
	values []*yaml.Node
	file   string
	line   int
}

type ruleDef struct {
	name       string
	file       string
	line       int
	desc       string
	cond       []srcPart
	output     string
	outputFile string
	outputLine int
	priority   event.Priority
	tags       []string
	enabled    bool
	exceptions []*exceptionDef
	lang       Lang
	// skipUnknown: Falco's skip-if-unknown-filter; a field no one knows
	// disables the rule instead of failing the load.
	skipUnknown bool
	// key is the rule's key in defs.rules (its name, or altKey(name) for a
	// definition in the other language than the first one of that name).
	key string
}

// defs is everything read from the files, overrides applied in load order,
// before anything is compiled.
type defs struct {
	lists     map[string]*listDef
	listOrder []string
	macros    map[string]*macroDef
	macroOrd  []string
	rules     map[string]*ruleDef
	ruleOrder []string
	problems  []Problem
	// otherSource counts Falco rules for another event source (k8s_audit,
	// aws_cloudtrail ...), which ruled skips.
	otherSource   int
	skippedSource map[string]bool
}

func newDefs() *defs {
	return &defs{lists: map[string]*listDef{}, macros: map[string]*macroDef{}, rules: map[string]*ruleDef{},
		skippedSource: map[string]bool{}}
}

func (d *defs) problem(file string, line int, item, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: file, Line: line, Item: item, Msg: fmt.Sprintf(format, args...)})
}

// Keys each item kind accepts.
var (
	listKeys  = map[string]bool{"list": true, "items": true, "override": true, "append": true}
	macroKeys = map[string]bool{"macro": true, "condition": true, "override": true, "append": true}
	ruleKeys  = map[string]bool{"rule": true, "desc": true, "condition": true, "output": true, "priority": true,
		"tags": true, "enabled": true, "exceptions": true, "override": true, "append": true}
	// Keys of Falco's rule files that carry nothing ruled acts on beyond
	// what readItem does with source and skip-if-unknown-filter.
	falcoRuleKeys = map[string]bool{"source": true, "warn_evttypes": true, "skip-if-unknown-filter": true,
		"capture": true, "capture_duration": true}
	// What override may do to each key of each kind.
	overridable = map[string]map[string]string{
		"list":  {"items": "append replace"},
		"macro": {"condition": "append replace"},
		"rule": {"condition": "append replace", "exceptions": "append replace", "tags": "append replace",
			"output": "append replace", "desc": "append replace", "priority": "replace", "enabled": "replace"},
	}
)

// ignoredItems are Falco top-level items that carry no rule logic for us.
var ignoredItems = map[string]bool{"required_engine_version": true, "required_plugin_versions": true}

func (d *defs) readFile(f File) {
	var doc yaml.Node
	if err := yaml.Unmarshal(f.Data, &doc); err != nil {
		line := 0
		msg := err.Error()
		// yaml.v3 reports "yaml: line N: msg"; lift N into FILE:LINE.
		var n int
		var rest string
		if k, _ := fmt.Sscanf(msg, "yaml: line %d:", &n); k == 1 {
			line = n
			if i := strings.Index(msg, ": "); i >= 0 {
				rest = msg[i+2:]
				if j := strings.Index(rest, ": "); j >= 0 {
					rest = rest[j+2:]
				}
			}
			msg = "yaml: " + rest
		}
		d.problem(f.Name, line, "", "%s", msg)
		return
	}
	if len(doc.Content) == 0 {
		return // empty file
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return
	}
	if root.Kind != yaml.SequenceNode {
		d.problem(f.Name, root.Line, "", "a rules file is a YAML list of list, macro and rule items")
		return
	}
	lang, err := detectLang(f, root)
	if err != nil {
		d.problem(f.Name, 0, "", "%v", err)
		return
	}
	for _, it := range root.Content {
		if it.Kind != yaml.MappingNode {
			d.problem(f.Name, it.Line, "", "item is not a mapping (want - rule: ..., - macro: ... or - list: ...)")
			continue
		}
		d.readItem(f.Name, it, lang)
	}
}

type kv struct {
	key *yaml.Node
	val *yaml.Node
}

func (d *defs) readItem(file string, it *yaml.Node, lang Lang) {
	m := map[string]kv{}
	var order []string
	for i := 0; i+1 < len(it.Content); i += 2 {
		k, v := it.Content[i], it.Content[i+1]
		if _, dup := m[k.Value]; dup {
			d.problem(file, k.Line, "", "duplicate key %q", k.Value)
			continue
		}
		m[k.Value] = kv{k, v}
		order = append(order, k.Value)
	}
	var kind string
	for _, k := range []string{"rule", "macro", "list"} {
		if _, ok := m[k]; ok {
			if kind != "" {
				d.problem(file, it.Line, "", "item has both %q and %q", kind, k)
				return
			}
			kind = k
		}
	}
	if kind == "" {
		for _, k := range order {
			if ignoredItems[k] {
				return
			}
		}
		d.problem(file, it.Line, "", "item is neither a rule, a macro nor a list")
		return
	}
	nameNode := m[kind].val
	if nameNode.Kind != yaml.ScalarNode || strings.TrimSpace(nameNode.Value) == "" {
		d.problem(file, nameNode.Line, "", "%s name must be a non-empty string", kind)
		return
	}
	name := nameNode.Value
	label := itemLabel(kind, name)
	allowed := map[string]map[string]bool{"rule": ruleKeys, "macro": macroKeys, "list": listKeys}[kind]
	bad := false
	for _, k := range order {
		if !allowed[k] && !(lang == LangFalco && kind == "rule" && falcoRuleKeys[k]) {
			d.problem(file, m[k].key.Line, label, "unknown key %q", k)
			bad = true
		}
	}
	if bad {
		return
	}

	if kind == "rule" && has(m, "source") {
		src := m["source"].val.Value
		if src != "syscall" && src != event.AlertSource {
			// A rule for another of Falco's event sources (k8s_audit,
			// aws_cloudtrail ...): nothing ruled sees can match it.
			d.otherSource++
			d.skippedSource[name] = true
			return
		}
	}
	if kind == "rule" && d.skippedSource[name] {
		return // an override of a rule skipped for its source
	}
	// How each key applies: define (new item), append or replace.
	modes, ok := d.overrideModes(file, kind, label, m)
	if !ok {
		return
	}
	key := name
	if kind != "rule" {
		key = langKey(name, lang)
	}
	var exists bool
	switch kind {
	case "list":
		_, exists = d.lists[key]
	case "macro":
		_, exists = d.macros[key]
	case "rule":
		var r *ruleDef
		r, exists = d.ruleFor(name, lang)
		if exists {
			key = r.key
		}
	}
	// Falco's short form `- rule: X` + `enabled: false` tunes an existing rule.
	if kind == "rule" && modes == nil && exists && len(order) == 2 && has(m, "enabled") {
		modes = map[string]string{"enabled": "replace"}
	}
	if modes != nil {
		if !exists {
			d.problem(file, it.Line, label, "override of %s %q, which is not defined (yet: overrides apply in load order)", kind, name)
			return
		}
		d.applyOverride(file, kind, key, label, m, modes, lang)
		return
	}
	if kind == "rule" {
		// A name is defined once per language; the same name in the other
		// language is kept apart (altKey) until build decides which runs.
		key = name
		if r, ok := d.rules[name]; ok && r.lang != lang {
			key = altKey(name)
		}
		_, exists = d.rules[key]
	}
	if exists {
		if lang != LangFalco {
			d.problem(file, it.Line, label, "%s %q is already defined; use override to change it", kind, name)
			return
		}
		// Falco: a later definition of the same name replaces the earlier.
	}
	switch kind {
	case "list":
		l := &listDef{name: name, file: file, line: it.Line}
		if !has(m, "items") {
			d.problem(file, it.Line, label, "missing items")
			return
		}
		items, ok := d.readItems(file, label, m["items"].val)
		if !ok {
			return
		}
		l.items = items
		if _, again := d.lists[key]; !again {
			d.listOrder = append(d.listOrder, key)
		}
		d.lists[key] = l
	case "macro":
		if !has(m, "condition") {
			d.problem(file, it.Line, label, "missing condition")
			return
		}
		p, ok := d.readCond(file, label, m["condition"].val)
		if !ok {
			return
		}
		if _, again := d.macros[key]; !again {
			d.macroOrd = append(d.macroOrd, key)
		}
		d.macros[key] = &macroDef{name: name, file: file, line: it.Line, cond: []srcPart{p}, lang: lang}
	case "rule":
		r := &ruleDef{name: name, file: file, line: it.Line, enabled: true, lang: lang, key: key}
		good := true
		for _, k := range []string{"condition", "output", "priority"} {
			if !has(m, k) {
				d.problem(file, it.Line, label, "missing %s", k)
				good = false
			}
		}
		for _, k := range order {
			if k == "rule" || falcoRuleKeys[k] {
				continue
			}
			if !d.setRuleKey(file, label, r, k, m[k].val, "replace") {
				good = false
			}
		}
		if sk, ok := m["skip-if-unknown-filter"]; ok {
			if err := sk.val.Decode(&r.skipUnknown); err != nil {
				d.problem(file, sk.val.Line, label, "skip-if-unknown-filter: want true or false")
				good = false
			}
		}
		if !good {
			return
		}
		if _, again := d.rules[key]; !again {
			d.ruleOrder = append(d.ruleOrder, key)
		}
		d.rules[key] = r
	}
}

func has(m map[string]kv, k string) bool { _, ok := m[k]; return ok }

// overrideModes returns nil for a plain definition, or key -> append|replace.
func (d *defs) overrideModes(file, kind, label string, m map[string]kv) (map[string]string, bool) {
	ov, hasOv := m["override"]
	ap, hasAp := m["append"]
	if hasOv && hasAp {
		d.problem(file, ap.key.Line, label, "use either override or append, not both")
		return nil, false
	}
	if hasAp {
		var on bool
		if err := ap.val.Decode(&on); err != nil {
			d.problem(file, ap.val.Line, label, "append: want true or false")
			return nil, false
		}
		if !on {
			return nil, true
		}
		// The old Falco form: append every appendable key given.
		modes := map[string]string{}
		for k := range m {
			if k == kind || k == "append" || falcoRuleKeys[k] {
				continue
			}
			if !strings.Contains(overridable[kind][k], "append") {
				d.problem(file, m[k].key.Line, label, "append: true cannot append %s", k)
				return nil, false
			}
			modes[k] = "append"
		}
		return modes, true
	}
	if !hasOv {
		return nil, true
	}
	if ov.val.Kind != yaml.MappingNode {
		d.problem(file, ov.val.Line, label, "override: want a mapping of key: append|replace")
		return nil, false
	}
	modes := map[string]string{}
	good := true
	for i := 0; i+1 < len(ov.val.Content); i += 2 {
		k, v := ov.val.Content[i], ov.val.Content[i+1]
		allowed, ok := overridable[kind][k.Value]
		switch {
		case !ok:
			d.problem(file, k.Line, label, "override: %s has no key %q to override", kind, k.Value)
			good = false
		case v.Value != "append" && v.Value != "replace":
			d.problem(file, v.Line, label, "override: %s: want append or replace, got %q", k.Value, v.Value)
			good = false
		case !strings.Contains(allowed, v.Value):
			d.problem(file, v.Line, label, "override: %s can only be %s", k.Value, allowed)
			good = false
		case !has(m, k.Value):
			d.problem(file, k.Line, label, "override: %s is listed but not given", k.Value)
			good = false
		default:
			modes[k.Value] = v.Value
		}
	}
	for k, e := range m {
		if k == kind || k == "override" || falcoRuleKeys[k] {
			continue
		}
		if _, ok := modes[k]; !ok && good {
			d.problem(file, e.key.Line, label, "%s is given but not listed under override", k)
			good = false
		}
	}
	if len(modes) == 0 && good {
		d.problem(file, ov.val.Line, label, "override: empty")
		good = false
	}
	return modes, good
}

func (d *defs) applyOverride(file, kind, name, label string, m map[string]kv, modes map[string]string, lang Lang) {
	switch kind {
	case "list":
		l := d.lists[name]
		items, ok := d.readItems(file, label, m["items"].val)
		if !ok {
			return
		}
		if modes["items"] == "append" {
			l.items = append(l.items, items...)
		} else {
			l.items = items
		}
	case "macro":
		mc := d.macros[name]
		p, ok := d.readCond(file, label, m["condition"].val)
		if !ok {
			return
		}
		if modes["condition"] == "append" {
			mc.cond = append(mc.cond, p)
		} else {
			mc.cond = []srcPart{p}
		}
	case "rule":
		r := d.rules[name]
		if _, ok := modes["condition"]; ok && r.lang != lang {
			d.problem(file, m["condition"].key.Line, label, "condition: the rule is written in %s, this file in %s: a condition cannot be appended across languages", r.lang, lang)
			return
		}
		// Apply in a fixed order so error reporting is stable.
		for _, k := range []string{"desc", "condition", "output", "priority", "tags", "enabled", "exceptions"} {
			if mode, ok := modes[k]; ok {
				d.setRuleKey(file, label, r, k, m[k].val, mode)
			}
		}
	}
}

func (d *defs) readItems(file, label string, n *yaml.Node) ([]*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		d.problem(file, n.Line, label, "items: want a list of values")
		return nil, false
	}
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			d.problem(file, c.Line, label, "items: each item must be a scalar")
			return nil, false
		}
	}
	return n.Content, true
}

func (d *defs) readCond(file, label string, n *yaml.Node) (srcPart, bool) {
	if n.Kind != yaml.ScalarNode || strings.TrimSpace(n.Value) == "" {
		d.problem(file, n.Line, label, "condition: want a non-empty string")
		return srcPart{}, false
	}
	line := n.Line
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		line++ // the text starts below the | or > indicator
	}
	return srcPart{file: file, line: line, text: n.Value}, true
}

func (d *defs) readString(file, label, key string, n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.problem(file, n.Line, label, "%s: want a string", key)
		return "", false
	}
	return n.Value, true
}

func joinText(old, add string) string {
	if old == "" {
		return add
	}
	return old + " " + add
}

// setRuleKey sets (mode replace) or extends (append) one key of a rule.
func (d *defs) setRuleKey(file, label string, r *ruleDef, key string, n *yaml.Node, mode string) bool {
	switch key {
	case "desc":
		s, ok := d.readString(file, label, key, n)
		if !ok {
			return false
		}
		if mode == "append" {
			r.desc = joinText(r.desc, s)
		} else {
			r.desc = s
		}
	case "output":
		s, ok := d.readString(file, label, key, n)
		if !ok {
			return false
		}
		if strings.TrimSpace(s) == "" {
			d.problem(file, n.Line, label, "output: empty")
			return false
		}
		if mode == "append" {
			r.output = joinText(r.output, s)
		} else {
			r.output = s
		}
		r.outputFile, r.outputLine = file, n.Line
	case "condition":
		p, ok := d.readCond(file, label, n)
		if !ok {
			return false
		}
		if mode == "append" {
			r.cond = append(r.cond, p)
		} else {
			r.cond = []srcPart{p}
		}
	case "priority":
		s, ok := d.readString(file, label, key, n)
		if !ok {
			return false
		}
		p, err := event.ParsePriority(s)
		if err != nil {
			d.problem(file, n.Line, label, "priority: %v", err)
			return false
		}
		r.priority = p
	case "tags":
		var tags []string
		if err := n.Decode(&tags); err != nil {
			d.problem(file, n.Line, label, "tags: want a list of strings")
			return false
		}
		if mode == "append" {
			r.tags = append(r.tags, tags...)
		} else {
			r.tags = tags
		}
	case "enabled":
		var on bool
		if err := n.Decode(&on); err != nil {
			d.problem(file, n.Line, label, "enabled: want true or false")
			return false
		}
		r.enabled = on
	case "exceptions":
		exs, ok := d.readExceptions(file, label, n)
		if !ok {
			return false
		}
		if mode != "append" {
			r.exceptions = exs
			return true
		}
		// Appending an exception of an existing name adds its values (Falco).
		for _, e := range exs {
			merged := false
			for _, old := range r.exceptions {
				if old.name == e.name {
					if len(e.fields) == 0 {
						old.values = append(old.values, e.values...)
						merged = true
					}
					break
				}
			}
			if !merged {
				if len(e.fields) == 0 {
					d.problem(e.file, e.line, label, "exceptions: %q has no fields and no exception of that name exists", e.name)
					return false
				}
				r.exceptions = append(r.exceptions, e)
			}
		}
	}
	return true
}

var exceptionKeys = map[string]bool{"name": true, "fields": true, "comps": true, "values": true}

func (d *defs) readExceptions(file, label string, n *yaml.Node) ([]*exceptionDef, bool) {
	if n.Kind != yaml.SequenceNode {
		d.problem(file, n.Line, label, "exceptions: want a list")
		return nil, false
	}
	var out []*exceptionDef
	good := true
	for _, en := range n.Content {
		if en.Kind != yaml.MappingNode {
			d.problem(file, en.Line, label, "exceptions: each exception is a mapping with name, fields, comps, values")
			good = false
			continue
		}
		e := &exceptionDef{file: file, line: en.Line}
		var compsNode *yaml.Node
		for i := 0; i+1 < len(en.Content); i += 2 {
			k, v := en.Content[i], en.Content[i+1]
			if !exceptionKeys[k.Value] {
				d.problem(file, k.Line, label, "exceptions: unknown key %q", k.Value)
				good = false
				continue
			}
			switch k.Value {
			case "name":
				e.name = v.Value
			case "fields":
				if v.Kind == yaml.ScalarNode {
					e.fields, e.single = []string{v.Value}, true
				} else if err := v.Decode(&e.fields); err != nil {
					d.problem(file, v.Line, label, "exceptions: fields: want a field or a list of fields")
					good = false
				}
			case "comps":
				compsNode = v
			case "values":
				if v.Kind != yaml.SequenceNode {
					d.problem(file, v.Line, label, "exceptions: values: want a list")
					good = false
					continue
				}
				e.values = v.Content
			}
		}
		if e.name == "" {
			d.problem(file, en.Line, label, "exceptions: missing name")
			good = false
			continue
		}
		if compsNode != nil {
			if compsNode.Kind == yaml.ScalarNode {
				e.comps = []string{compsNode.Value}
			} else if err := compsNode.Decode(&e.comps); err != nil {
				d.problem(file, compsNode.Line, label, "exceptions: %s: comps: want an operator or a list of operators", e.name)
				good = false
				continue
			}
		}
		if len(e.fields) > 0 && len(e.comps) == 0 {
			for range e.fields {
				if e.single {
					e.comps = append(e.comps, "in")
				} else {
					e.comps = append(e.comps, "=")
				}
			}
		}
		if len(e.fields) > 0 && len(e.comps) != len(e.fields) {
			d.problem(file, en.Line, label, "exceptions: %s: %d fields but %d comps", e.name, len(e.fields), len(e.comps))
			good = false
			continue
		}
		out = append(out, e)
	}
	return out, good
}

// ruleFor finds the definition of rule name an override applies to: the
// one in the override's language, else the other language's.
func (d *defs) ruleFor(name string, lang Lang) (*ruleDef, bool) {
	a, aok := d.rules[name]
	b, bok := d.rules[altKey(name)]
	switch {
	case aok && a.lang == lang:
		return a, true
	case bok && b.lang == lang:
		return b, true
	case aok:
		return a, true
	}
	return nil, false
}

// altKey is the defs.rules key of a rule defined in both languages, for
// the definition in the language that came second.
func altKey(name string) string { return "\x00alt:" + name }

// langKey namespaces Falco-language lists and macros apart from expr ones.
func langKey(name string, lang Lang) string {
	if lang == LangFalco {
		return falcolang.MacroPrefix + name
	}
	return name
}
