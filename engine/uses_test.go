package engine

import (
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/ruled/ruled/engine/falcolang"
	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/event"
)

// TestFieldsUsed: the set holds what conditions (through macros and
// exceptions), expr and Falco-language templates and every alert read, and
// nothing else; a whole subtree passed on counts for all its fields.
func TestFieldsUsed(t *testing.T) {
	e := mustNew(t, Options{}, yamlFile("a.yaml", `
- macro: spawned
  condition: evt.type == "execve" and evt.success
- rule: env
  desc: d
  condition: 'spawned and any(proc.env, # startsWith "LD_PRELOAD=")'
  output: "%proc.stdin.rip %ns.mnt"
  priority: WARNING
  exceptions:
    - name: by_parent
      fields: [proc.pname]
      values: [[cron]]
- rule: off
  desc: d
  condition: spawned and len(proc.args) > 0
  output: x
  priority: WARNING
  enabled: false
`), yamlFile("f.yaml", `# ruled: language=falco
- rule: caps
  desc: d
  condition: evt.type = execve and proc.name = sh
  output: "caps %thread.cap_effective"
  priority: WARNING
- rule: caps in the condition
  desc: d
  condition: evt.type = execve and thread.cap_permitted contains CAP_SYS_ADMIN
  output: x
  priority: WARNING
`))
	got := e.Fields()
	for _, f := range []string{"evt.type", "evt.success", "proc.env", "proc.pname", "proc.stdin.rip", "ns.mnt",
		"proc.name", "proc.cap_effective", "proc.cap_permitted", "proc.pid", "container.id"} {
		if !got.Has(f) {
			t.Errorf("%s not in the set", f)
		}
	}
	for _, f := range []string{"ns.net", "proc.stdin.type", "proc.cap_inheritable", "proc.stdout", "fd.rip", "proc.args"} {
		if got.Has(f) {
			t.Errorf("%s in the set", f)
		}
	}

	whole := mustNew(t, Options{}, yamlFile("w.yaml", `
- rule: w
  desc: d
  condition: proc.stdin == proc.stdout
  output: x
  priority: WARNING
`))
	if !whole.Fields().Has("proc.stdin.rip") || whole.Fields().Has("proc.stderr.rip") {
		t.Errorf("whole stdin: rip %v, stderr.rip %v; want true, false",
			whole.Fields().Has("proc.stdin.rip"), whole.Fields().Has("proc.stderr.rip"))
	}
}

// TestFieldsUsedDefaultPack: every field the default pack names is in its
// set (a field the set misses would not be read from /proc at exec).
func TestFieldsUsedDefaultPack(t *testing.T) {
	files, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		t.Fatal(err)
	}
	e := mustNew(t, Options{}, files...)
	set := e.Fields()
	for _, f := range event.Fields() {
		for _, r := range e.Rules() {
			if containsField(r.Condition+" "+r.Output, f.Name) && !set.Has(f.Name) {
				t.Errorf("rule %q names %s; not in the set", r.Name, f.Name)
			}
		}
	}
	if !set.Has("proc.env") || !set.Has("proc.vpid") {
		t.Error("the default pack's proc.env or proc.vpid not in the set")
	}
}

// containsField reports whether text names field as a whole word
// (proc.pid, not the start of proc.pidns or the end of xproc.pid).
func containsField(text, field string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], field)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(field)
		if (start == 0 || !isFieldChar(text[start-1])) && (end == len(text) || !isFieldChar(text[end])) {
			return true
		}
		i = start + 1
	}
}

// TestFieldsUsedFalcoUpstream: for every active Falco-language rule of the
// upstream stable and incubating files, each Falco field its condition or
// output names reads ruled fields (through the alias table) that are in the
// set.
func TestFieldsUsedFalcoUpstream(t *testing.T) {
	e := mustNew(t, Options{}, upstreamRules(t, upstreamFiles[:2]...)...)
	set := e.Fields()
	checked := 0
	for name, a := range falcolang.Aliases {
		want := FieldSet{names: map[string]bool{}}
		opts := append([]expr.Option{expr.Env(event.Event{})}, falcolang.Functions()...)
		p, err := expr.Compile(a.Expr, opts...)
		if err != nil {
			continue // a field ruled has no data for
		}
		want.addProgram(p)
		for _, r := range e.Rules() {
			if r.Lang != LangFalco || !containsField(r.Condition+" "+r.Output, name) {
				continue
			}
			for f := range want.names {
				if !set.Has(f) {
					t.Errorf("rule %q names %s, which reads %s; not in the set", r.Name, name, f)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no Falco field of an active rule checked")
	}
}
