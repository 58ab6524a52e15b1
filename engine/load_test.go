package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ruled/ruled/sources/event"
)

const baseMacros = `- list: shells
  items: [sh, bash]
- macro: spawned_process
  condition: evt.type == "execve" and evt.success
`

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name  string
		files []File
		want  []string // every problem, in order
	}{
		{"unknown field", []File{yamlFile("a.yaml", `- rule: R
  desc: d
  condition: proc.exee == "x"
  output: o
  priority: INFO
`)}, []string{`a.yaml:3: rule "R": condition: unknown field proc.exee (1:6)`}},
		{"unknown name", []File{yamlFile("a.yaml", baseMacros+`- rule: R
  condition: spawned_process and shellz
  output: o
  priority: INFO
`)}, []string{`a.yaml:6: rule "R": condition: unknown field, macro or list shellz (1:21)`}},
		{"string vs int", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.name == 1
  output: o
  priority: INFO
`)}, []string{`a.yaml:2: rule "R": condition: invalid operation: == (mismatched types string and int) (1:11)`}},
		{"not precedence", []File{yamlFile("a.yaml", `- rule: R
  condition: not proc.name == "sh"
  output: o
  priority: INFO
`)}, []string{`a.yaml:2: rule "R": condition: invalid operation: not (mismatched type string); ` + "`not`" + ` binds tighter than ==: write not (proc.name == "sh") (1:1)`}},
		{"syntax error", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.name == 
  output: o
  priority: INFO
`)}, []string{`a.yaml:2: rule "R": condition: unexpected token EOF (1:12)`}},
		{"not bool", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.name
  output: o
  priority: INFO
`)}, []string{`a.yaml:2: rule "R": condition: expected bool, but got string (1:1)`}},
		{"bad priority", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.tty
  output: o
  priority: SEVERE
`)}, []string{`a.yaml:4: rule "R": priority: unknown priority "SEVERE" (want one of EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL, DEBUG)`}},
		{"unknown key", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.tty
  output: o
  priority: INFO
  severity: high
`)}, []string{`a.yaml:5: rule "R": unknown key "severity"`}},
		{"missing keys", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.tty
`)}, []string{`a.yaml:1: rule "R": missing output`, `a.yaml:1: rule "R": missing priority`}},
		{"duplicate rule", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.tty
  output: o
  priority: INFO
`), yamlFile("b.yaml", `- rule: R
  condition: proc.tty
  output: o
  priority: INFO
`)}, []string{`b.yaml:1: rule "R": rule "R" is already defined; use override to change it`}},
		{"override undefined", []File{yamlFile("a.yaml", `- list: l
  items: [x]
  override: {items: append}
`)}, []string{`a.yaml:1: list "l": override of list "l", which is not defined (yet: overrides apply in load order)`}},
		{"unknown output field", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.tty
  output: x %proc.nmae y %proc.name
  priority: INFO
`)}, []string{`a.yaml:3: rule "R": output: unknown field proc.nmae`}},
		{"macro cycle", []File{yamlFile("a.yaml", `- macro: a
  condition: b and proc.tty
- macro: b
  condition: proc.tty and a
`)}, []string{`a.yaml:4: macro "b": condition: macro cycle: b -> a -> b (1:14)`}},
		{"macro error reported once", []File{yamlFile("a.yaml", `- macro: m
  condition: proc.nope
- rule: R
  condition: m
  output: o
  priority: INFO
`)}, []string{`a.yaml:2: macro "m": condition: unknown field proc.nope (1:6)`}},
		{"list cycle", []File{yamlFile("a.yaml", `- list: a
  items: [b]
- list: b
  items: [a]
`)}, []string{`a.yaml:1: list "a": list cycle: a -> b -> a`, `a.yaml:3: list "b": list cycle: b -> a -> b`}},
		{"yaml syntax", []File{yamlFile("a.yaml", "- rule: R\n  condition: [unclosed\n")}, []string{`a.yaml:1: yaml: did not find expected ',' or ']'`}},
		{"not a list", []File{yamlFile("a.yaml", "rule: R\n")}, []string{`a.yaml:1: a rules file is a YAML list of list, macro and rule items`}},
		{"neither", []File{yamlFile("a.yaml", "- foo: R\n")}, []string{`a.yaml:1: item is neither a rule, a macro nor a list`}},
		{"bad exception field", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.tty
  output: o
  priority: INFO
  exceptions:
    - name: x
      fields: [proc.nam]
      values: [[sh]]
`)}, []string{`a.yaml:6: rule "R": exceptions: exception x: unknown field proc.nam`}},
		{"bad exception comp type", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.tty
  output: o
  priority: INFO
  exceptions:
    - name: x
      fields: [proc.pid]
      comps: [startswith]
      values: [[1]]
`)}, []string{`a.yaml:6: rule "R": exceptions: exception x: startswith needs a string field, proc.pid is int`}},
		{"appended condition error points at override", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.tty
  output: o
  priority: INFO
`), yamlFile("b.yaml", `- rule: R
  condition: and proc.bogus
  override:
    condition: append
`)}, []string{`b.yaml:2: rule "R": condition: unknown field proc.bogus (1:10)`}},
		{"override key not given", []File{yamlFile("a.yaml", `- macro: m
  condition: proc.tty
- macro: m
  override: {condition: append}
`)}, []string{`a.yaml:4: macro "m": override: condition is listed but not given`}},
		{"append priority", []File{yamlFile("a.yaml", `- rule: R
  condition: proc.tty
  output: o
  priority: INFO
- rule: R
  priority: DEBUG
  override: {priority: append}
`)}, []string{`a.yaml:7: rule "R": override: priority can only be replace`}},
		{"all problems at once", []File{yamlFile("a.yaml", `- rule: A
  condition: proc.x
  output: o
  priority: INFO
- rule: B
  condition: proc.tty
  output: o
  priority: nope
`), yamlFile("b.yaml", "- macro: m\n  condition: \"\"\n")}, []string{
			`a.yaml:8: rule "B": priority: unknown priority "nope" (want one of EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL, DEBUG)`,
			`b.yaml:2: macro "m": condition: want a non-empty string`,
			`a.yaml:2: rule "A": condition: unknown field proc.x (1:6)`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.files, Options{})
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want *LoadError", err)
			}
			var got []string
			for _, p := range le.Problems {
				got = append(got, p.Error())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, c.want)
			}
			if le.Error() != strings.Join(got, "\n") {
				t.Errorf("Error() does not join problems: %q", le.Error())
			}
		})
	}
}

func TestLoadEveryKey(t *testing.T) {
	e := mustNew(t, Options{Hostname: "h"}, yamlFile("a.yaml", `
- required_engine_version: 10
- list: shells
  items: [sh, bash]
- macro: spawned_process
  condition: evt.type == "execve" and evt.success
- rule: Shell
  desc: a shell
  condition: >
    spawned_process
    and proc.name in shells
  output: shell %proc.name in %container.name (100%%)
  priority: info
  tags: [a, b]
  enabled: true
- rule: Off
  desc: disabled
  condition: proc.tty
  output: o
  priority: DEBUG
  enabled: false
`))
	rules := e.Rules()
	if len(rules) != 1 {
		t.Fatalf("rules = %v", names(rules))
	}
	r := rules[0]
	if r.Name != "Shell" || r.Desc != "a shell" || r.Priority != event.PriorityInformational || !slices.Equal(r.Tags, []string{"a", "b"}) || !slices.Equal(r.Types, []string{"execve"}) {
		t.Errorf("rule = %+v", r)
	}
	n, dis, m, l := e.Summary()
	if n != 1 || dis != 1 || m != 1 || l != 1 {
		t.Errorf("Summary = %d %d %d %d", n, dis, m, l)
	}
	ev := execEvent("bash", "x", "c1")
	out, fields := r.Render(ev)
	if out != "shell bash in web (100%)" {
		t.Errorf("output = %q", out)
	}
	for _, k := range alwaysFields {
		if _, ok := fields[k]; !ok {
			t.Errorf("output_fields lacks %s", k)
		}
	}
	if fields["proc.pid"] != 100 {
		t.Errorf("proc.pid = %#v, want typed int 100", fields["proc.pid"])
	}
}

func TestEmptyFiles(t *testing.T) {
	e := mustNew(t, Options{}, yamlFile("a.yaml", ""), yamlFile("b.yaml", "# only a comment\n"))
	if len(e.Rules()) != 0 {
		t.Fatal("rules from empty files")
	}
}

func TestReferencesAcrossFilesAnyOrder(t *testing.T) {
	// The rule uses a macro and a list defined in a later file.
	e := mustNew(t, Options{}, yamlFile("a.yaml", `- rule: R
  condition: m and proc.name in l
  output: o
  priority: INFO
`), yamlFile("b.yaml", `- macro: m
  condition: evt.type == "execve"
- list: l
  items: [sh]
`))
	if got := names(e.Match(execEvent("sh", "", "host"))); !slices.Equal(got, []string{"R"}) {
		t.Errorf("Match = %v", got)
	}
}

func TestMacroNamedLikeField(t *testing.T) {
	// The documented `container` macro (rules/README.md) shares its name with the container field.
	e := mustNew(t, Options{}, yamlFile("a.yaml", `- macro: container
  condition: container.id != "host"
- rule: R
  condition: container and container.name == "web"
  output: o
  priority: INFO
`))
	if got := names(e.Match(execEvent("sh", "", "abc"))); !slices.Equal(got, []string{"R"}) {
		t.Errorf("in container: %v", got)
	}
	if got := names(e.Match(execEvent("sh", "", "host"))); len(got) != 0 {
		t.Errorf("on host: %v", got)
	}
}

func TestNestedListsAndIntLists(t *testing.T) {
	e := mustNew(t, Options{}, yamlFile("a.yaml", `- list: a
  items: [sh]
- list: b
  items: [a, bash]
- list: ports
  items: [22, 4444]
- rule: R
  condition: proc.name in b
  output: o
  priority: INFO
- rule: P
  condition: fd.rport in ports
  output: o
  priority: INFO
`))
	for _, c := range []struct {
		name string
		ev   *event.Event
		want []string
	}{
		{"nested item", &event.Event{Proc: event.Proc{Name: "sh"}}, []string{"R"}},
		{"direct item", &event.Event{Proc: event.Proc{Name: "bash"}}, []string{"R"}},
		{"list name is not an item", &event.Event{Proc: event.Proc{Name: "a"}}, []string{}},
		{"int list", &event.Event{FD: event.FD{RPort: 4444}}, []string{"P"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := names(e.Match(c.ev)); !slices.Equal(got, c.want) {
				t.Errorf("got %v want %v", got, c.want)
			}
		})
	}
}

// A file whose conditions only Falco's parser accepts is Falco-language;
// the marker comment forces expr, whose error then names the position.
func TestFalcoSpellingsDetected(t *testing.T) {
	const rule = `- rule: R
  condition: proc.name = "sh"
  output: o
  priority: INFO
`
	e, err := New([]File{yamlFile("a.yaml", rule)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Falco(); got.Active != 1 || e.Rules()[0].Lang != LangFalco {
		t.Fatalf("falco counts = %+v, want the rule active as Falco-language", got)
	}
	_, err = New([]File{yamlFile("a.yaml", "# ruled: language=expr\n"+rule)}, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), `a.yaml:3: rule "R": condition: `) {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadErrorType(t *testing.T) {
	_, err := New([]File{yamlFile("a.yaml", "- rule: [")}, Options{})
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 1 || le.Problems[0].File != "a.yaml" {
		t.Fatalf("err = %#v", err)
	}
}

// A chain of macros each using the previous one twice would expand to an
// exponential tree; the loader stops it quickly with an error.
func TestMacroExpansionBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("- macro: m0\n  condition: proc.tty\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "- macro: m%d\n  condition: m%d and m%d\n", i, i-1, i-1)
	}
	b.WriteString("- rule: R\n  condition: m30\n  output: o\n  priority: INFO\n")
	_, err := New([]File{yamlFile("a.yaml", b.String())}, Options{})
	if err == nil || !strings.Contains(err.Error(), `a.yaml:30: macro "m14": condition: condition too large after expanding macros`) {
		t.Fatalf("err = %v", err)
	}
}

func TestListExpansionBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("- list: l0\n  items: [a, b]\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "- list: l%d\n  items: [l%d, l%d]\n", i, i-1, i-1)
	}
	_, err := New([]File{yamlFile("a.yaml", b.String())}, Options{})
	if err == nil || !strings.Contains(err.Error(), `list "l16": list too large after expanding nested lists`) {
		t.Fatalf("err = %v", err)
	}
}
