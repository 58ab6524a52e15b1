package engine

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/event"
)

func shellExec(name, pname string, container string) *event.Event {
	return &event.Event{
		Evt:       event.Evt{Type: "execve", Syscall: "execve", Success: true},
		Proc:      event.Proc{Name: name, PName: pname, Args: []string{name}, ANames: []string{pname}},
		Container: event.Container{ID: container},
	}
}

// Falco's rule-file keys and semantics inside a Falco-language file.
func TestFalcoRuleFile(t *testing.T) {
	e := mustNew(t, Options{RateLimit: RateLimit{Rate: -1}}, yamlFile("f.yaml", `
- required_engine_version: 0.31.0
- required_plugin_versions:
  - name: container
    version: 0.2.0
- list: shells
  items: [sh]
- list: shells
  items: [bash, zsh]
- macro: spawned_process
  condition: evt.type in (execve, execveat)
- macro: trusted
  condition: proc.pname = sshd
- macro: trusted
  condition: proc.pname = init
- rule: Shell
  desc: a shell
  condition: spawned_process and proc.name in (shells)
  output: shell %proc.name (parent %proc.pname)
  priority: Warning
  tags: [shell]
  warn_evttypes: false
  skip-if-unknown-filter: false
  capture: true
  capture_duration: 5000
  source: syscall
  exceptions:
    - name: known_parents
      fields: [proc.pname, proc.name]
      comps: [in, =]
      values:
        - [[cron, atd], zsh]
    - name: tools
      fields: proc.pname
      comps: pmatch
      values: [/opt/tools]
- rule: Shell
  condition: and not trusted
  append: true
- rule: Shell
  exceptions:
    - name: known_parents
      values:
        - [[make], bash]
  append: true
- rule: Off by default
  desc: d
  condition: spawned_process
  output: o
  priority: INFO
  enabled: false
- rule: Skipped unknown
  desc: d
  condition: spawned_process and foo.bar = x
  output: o
  priority: INFO
  skip-if-unknown-filter: true
- rule: K8s
  desc: d
  condition: ka.verb = create
  output: o
  priority: INFO
  source: k8s_audit
- rule: Redefined
  desc: first
  condition: spawned_process and proc.name = never
  output: o
  priority: INFO
- rule: Redefined
  desc: second, replaces the first
  condition: spawned_process and proc.name = zsh
  output: o
  priority: INFO
- rule: Plugin rule
  desc: d
  condition: ruled.proc.name = sh
  output: o
  priority: INFO
  source: ruled
`))
	cases := []struct {
		ev   *event.Event
		want []string
	}{
		{shellExec("bash", "java", "host"), []string{"Shell"}},
		{shellExec("sh", "java", "host"), []string{"Plugin rule"}}, // the list was redefined: sh is no longer in it
		{shellExec("bash", "init", "host"), nil},                   // the later macro definition, through the appended condition
		{shellExec("bash", "sshd", "host"), []string{"Shell"}},     // the earlier macro definition is gone
		{shellExec("zsh", "cron", "host"), []string{"Redefined"}},  // exception with an in comp
		{shellExec("bash", "make", "host"), nil},                   // exception values appended by name
		{shellExec("bash", "/opt/tools/x", "host"), nil},           // pmatch comp
		{shellExec("bash", "/opt/toolsx", "host"), []string{"Shell"}},
	}
	for _, c := range cases {
		if got := names(e.Match(c.ev)); !slices.Equal(got, c.want) {
			t.Errorf("%s under %s: %v, want %v", c.ev.Proc.Name, c.ev.Proc.PName, got, c.want)
		}
	}
	fc := e.Falco()
	if fc.Active != 3 || fc.Disabled != 1 || fc.Inactive != 1 || fc.OtherSource != 1 || fc.Rules != 5 {
		t.Errorf("counts %+v", fc)
	}
	in := e.Inactive()
	if len(in) != 1 || in[0].Name != "Skipped unknown" || in[0].Reason != "needs field foo.bar, which ruled does not collect" {
		t.Errorf("inactive %+v", in)
	}
	r := e.Rules()[0]
	if r.Priority != event.PriorityWarning || !slices.Equal(r.Tags, []string{"shell"}) || !slices.Equal(r.Types, []string{"execve"}) {
		t.Errorf("rule %+v", r)
	}
	out, fields := r.Render(shellExec("bash", "java", "host"))
	if out != "shell bash (parent java)" || fields["proc.pname"] != "java" {
		t.Errorf("output %q %v", out, fields)
	}
	// Unknown values print <NA> and are null, as in ruled's own outputs: a
	// uid of 0 nobody named, a pid of 0; ruled lacks evt.arg.flags.
	tpl, err := parseTemplate("uid=%user.uid pid=%proc.pid name=%user.name flags=%evt.arg.flags gp=%proc.aname[2]", LangFalco)
	if err != nil {
		t.Fatal(err)
	}
	out, fields = tpl.render(shellExec("bash", "java", "host"))
	if out != "uid=<NA> pid=<NA> name=<NA> flags=<NA> gp=<NA>" || fields["user.uid"] != nil || fields["evt.arg.flags"] != nil {
		t.Errorf("unknowns: %q %v", out, fields)
	}
	root := shellExec("bash", "java", "host")
	root.Proc.User, root.Proc.PID = "root", 7
	if out, _ = tpl.render(root); out != "uid=0 pid=7 name=root flags=<NA> gp=<NA>" {
		t.Errorf("root: %q", out)
	}
}

// Errors in a Falco-language condition name FILE:LINE, the item and the
// column, as expr errors do; an unknown field fails the load.
func TestFalcoConditionProblems(t *testing.T) {
	_, err := New([]File{yamlFile("f.yaml", `- macro: m
  condition: proc.name in (a, b
- rule: R
  desc: d
  condition: >
    evt.type = execve and
    foo.bar = 1
  output: o
  priority: INFO
- rule: S
  desc: d
  condition: evt.type = execve and proc.pid = x
  output: o
  priority: INFO
`)}, Options{})
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
	got := le.Error()
	for _, want := range []string{
		`f.yaml:2: macro "m": condition: expected , or ) in the list, got end of condition (1:19)`,
		`f.yaml:6: rule "R": condition: unknown field foo.bar (1:23)`, // > folds the lines
		`f.yaml:12: rule "S": condition: proc.pid is a number, "x" is not (1:34)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}

// The same rule name in both languages: the later definition runs when it
// is active, else the earlier stays and the later is listed inactive.
// Lists and macros of the two languages never conflict.
func TestFalcoNamesBesideBuiltin(t *testing.T) {
	builtin, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		t.Fatal(err)
	}
	falco := yamlFile("falco.yaml", `
- macro: spawned_process
  condition: evt.type in (execve, execveat)
- list: shell_binaries
  items: [bash]
- rule: Terminal shell in container
  desc: Falco's version
  condition: spawned_process and container.id != host and proc.name in (shell_binaries) and proc.tty != 0
  output: falco %proc.name
  priority: NOTICE
- rule: Change thread namespace
  desc: Falco's version needs a server DNS name
  condition: evt.type = setns and fd.sip.name = kubernetes
  output: falco %proc.name
  priority: NOTICE
- rule: Shell spawned by JVM
  desc: Falco's version, disabled in its file
  condition: spawned_process and proc.pname = java
  output: falco %proc.name
  priority: NOTICE
  enabled: false
`)
	e := mustNew(t, Options{RateLimit: RateLimit{Rate: -1}}, append(builtin, falco)...)
	byName := map[string]*Rule{}
	for _, r := range e.Rules() {
		if byName[r.Name] != nil {
			t.Errorf("rule %q runs twice", r.Name)
		}
		byName[r.Name] = r
	}
	if r := byName["Terminal shell in container"]; r == nil || r.Lang != LangFalco {
		t.Errorf("Terminal shell in container: %+v, want Falco's active definition", r)
	}
	if r := byName["Change thread namespace"]; r == nil || r.Lang != LangExpr {
		t.Errorf("Change thread namespace: %+v, want the builtin definition", r)
	}
	if r := byName["Shell spawned by JVM"]; r == nil || r.Lang != LangExpr {
		t.Errorf("Shell spawned by JVM: %+v, want the builtin definition (Falco's is disabled)", r)
	}
	in := e.Inactive()
	if len(in) != 2 || in[0].Name != "Change thread namespace" || !strings.Contains(in[0].Reason, "the expr rule of this name (builtin/") ||
		in[1].Reason != "disabled in its file; the expr rule of this name ("+byName["Shell spawned by JVM"].File+":"+strconv.Itoa(byName["Shell spawned by JVM"].Line)+") runs instead" {
		t.Errorf("inactive %+v", in)
	}
	if rep := e.Replaced(); len(rep) != 1 || !strings.Contains(rep[0], `falco.yaml:6: rule "Terminal shell in container" (Falco's language) replaces the expr rule of that name at builtin/`) {
		t.Errorf("replaced %q", rep)
	}
}

func TestDetectLang(t *testing.T) {
	cases := []struct {
		name, text string
		want       Lang
	}{
		{"expr", "- macro: m\n  condition: proc.name == \"sh\"\n", LangExpr},
		{"falco syntax", "- macro: m\n  condition: proc.name = sh\n", LangFalco},
		{"falco list syntax", "- macro: m\n  condition: proc.name in (sh, bash)\n", LangFalco},
		{"both parse: expr", "- macro: m\n  condition: a and b\n", LangExpr},
		{"falco key", "- macro: a\n  condition: evt.num = 0\n- rule: r\n  desc: d\n  condition: a and a\n  output: o\n  priority: INFO\n  source: syscall\n", LangFalco},
		{"marker", "# ruled: language=falco\n- list: l\n  items: [a]\n", LangFalco},
		{"marker forces expr", "# ruled: language=expr\n- macro: m\n  condition: proc.name = sh\n", LangExpr},
		{"a slip in an expr file", "- macro: m\n  condition: proc.name = sh\n- macro: n\n  condition: proc.name in [\"a\"]\n", LangExpr},
	}
	for _, c := range cases {
		d := newDefs()
		d.readFile(yamlFile("f.yaml", c.text))
		var got Lang
		for _, m := range d.macros {
			got = m.lang
		}
		for k := range d.lists {
			if strings.HasPrefix(k, "falco__") {
				got = LangFalco
			}
		}
		for _, r := range d.rules {
			got = r.lang
		}
		if got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	_, err := New([]File{yamlFile("f.yaml", "# ruled: language=cobol\n- list: l\n  items: [a]\n")}, Options{})
	if err == nil || !strings.Contains(err.Error(), "language=cobol: want falco or expr") {
		t.Errorf("bad marker: %v", err)
	}
}

// A Falco-style slip in an expr file is an expr error that says what the
// condition looks like.
func TestFalcoSlipInExprFile(t *testing.T) {
	_, err := New([]File{yamlFile("f.yaml", "- macro: m\n  condition: proc.name = sh\n- macro: n\n  condition: proc.name in [\"a\"]\n")}, Options{})
	if err == nil || !strings.Contains(err.Error(), `f.yaml:2: macro "m": condition: `) || !strings.Contains(err.Error(), "this condition is Falco's language") {
		t.Fatalf("err = %v", err)
	}
}
