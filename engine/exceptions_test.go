package engine

import (
	"testing"

	"github.com/ruled/ruled/sources/event"
)

func TestExceptionComps(t *testing.T) {
	rule := func(exc string) File {
		return yamlFile("a.yaml", `- list: trusted
  items: [sshd, sudo]
- rule: R
  condition: evt.type == "open"
  output: o
  priority: INFO
  exceptions:
`+exc)
	}
	ev := func(name, path string, pid int) *event.Event {
		return &event.Event{Evt: event.Evt{Type: "open"}, Proc: event.Proc{Name: name, PID: pid, TTY: true}, File: event.File{Path: path}}
	}
	cases := []struct {
		name     string
		exc      string
		excepted []*event.Event
		fires    []*event.Event
	}{
		{"=", "    - {name: x, fields: [proc.name, file.path], comps: [=, =], values: [[cat, /etc/shadow]]}\n",
			[]*event.Event{ev("cat", "/etc/shadow", 1)}, []*event.Event{ev("cat", "/etc/passwd", 1), ev("vi", "/etc/shadow", 1)}},
		{"default comps are =", "    - {name: x, fields: [proc.name, file.path], values: [[cat, /etc/shadow], [vi, /etc/hosts]]}\n",
			[]*event.Event{ev("cat", "/etc/shadow", 1), ev("vi", "/etc/hosts", 1)}, []*event.Event{ev("vi", "/etc/shadow", 1)}},
		{"!=", "    - {name: x, fields: [proc.name], comps: ['!='], values: [[cat]]}\n",
			[]*event.Event{ev("vi", "", 1)}, []*event.Event{ev("cat", "", 1)}},
		{"in tuple", "    - {name: x, fields: [proc.name, file.path], comps: [in, =], values: [[[cat, less], /etc/shadow]]}\n",
			[]*event.Event{ev("less", "/etc/shadow", 1)}, []*event.Event{ev("vi", "/etc/shadow", 1)}},
		{"in list name", "    - {name: x, fields: [proc.name], comps: [in], values: [[trusted]]}\n",
			[]*event.Event{ev("sudo", "", 1)}, []*event.Event{ev("cat", "", 1)}},
		{"single field defaults to in", "    - {name: x, fields: proc.name, values: [sshd, cat]}\n",
			[]*event.Event{ev("cat", "", 1), ev("sshd", "", 1)}, []*event.Event{ev("vi", "", 1)}},
		{"single field startswith", "    - {name: x, fields: file.path, comps: startswith, values: [/tmp/, /var/tmp/]}\n",
			[]*event.Event{ev("x", "/var/tmp/a", 1)}, []*event.Event{ev("x", "/etc/a", 1)}},
		{"startswith", "    - {name: x, fields: [file.path], comps: [startswith], values: [[/tmp/]]}\n",
			[]*event.Event{ev("x", "/tmp/a", 1)}, []*event.Event{ev("x", "/etc/tmp/", 1)}},
		{"endswith", "    - {name: x, fields: [file.path], comps: [endswith], values: [[.log]]}\n",
			[]*event.Event{ev("x", "/var/a.log", 1)}, []*event.Event{ev("x", "/var/a.log.1", 1)}},
		{"contains", "    - {name: x, fields: [file.path], comps: [contains], values: [[cache]]}\n",
			[]*event.Event{ev("x", "/a/cache/b", 1)}, []*event.Event{ev("x", "/a/b", 1)}},
		{"<", "    - {name: x, fields: [proc.pid], comps: ['<'], values: [[100]]}\n",
			[]*event.Event{ev("x", "", 99)}, []*event.Event{ev("x", "", 100)}},
		{"<=", "    - {name: x, fields: [proc.pid], comps: ['<='], values: [[100]]}\n",
			[]*event.Event{ev("x", "", 100)}, []*event.Event{ev("x", "", 101)}},
		{">", "    - {name: x, fields: [proc.pid], comps: ['>'], values: [[100]]}\n",
			[]*event.Event{ev("x", "", 101)}, []*event.Event{ev("x", "", 100)}},
		{">=", "    - {name: x, fields: [proc.pid], comps: ['>='], values: [[100]]}\n",
			[]*event.Event{ev("x", "", 100)}, []*event.Event{ev("x", "", 99)}},
		{"bool field", "    - {name: x, fields: [proc.tty], values: [[true]]}\n",
			[]*event.Event{ev("x", "", 1)}, nil},
		{"two exceptions", "    - {name: x, fields: [proc.name], values: [[a]]}\n    - {name: y, fields: [proc.name], values: [[b]]}\n",
			[]*event.Event{ev("a", "", 1), ev("b", "", 1)}, []*event.Event{ev("c", "", 1)}},
		{"no values excepts nothing", "    - {name: x, fields: [proc.name]}\n",
			nil, []*event.Event{ev("a", "", 1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := mustNew(t, Options{}, rule(c.exc))
			for _, x := range c.excepted {
				if m := e.Match(x); len(m) != 0 {
					t.Errorf("%s %s %d: fired, want excepted", x.Proc.Name, x.File.Path, x.Proc.PID)
				}
			}
			for _, x := range c.fires {
				if m := e.Match(x); len(m) != 1 {
					t.Errorf("%s %s %d: excepted, want fired", x.Proc.Name, x.File.Path, x.Proc.PID)
				}
			}
		})
	}
}

func TestExceptionBadValues(t *testing.T) {
	for _, c := range []struct{ name, exc, want string }{
		{"int field with text", "{name: x, fields: [proc.pid], values: [[abc]]}", `a.yaml:7: rule "R": exceptions: exception x: field proc.pid is an int, value "abc" is not`},
		{"tuple length", "{name: x, fields: [proc.pid, proc.name], values: [[1]]}", `a.yaml:7: rule "R": exceptions: exception x: each value must be a list of 2 values (one per field)`},
		{"unknown comp", "{name: x, fields: [proc.name], comps: [matches], values: [[a]]}", `exception x: unknown comp "matches" (want =, !=, in, startswith, endswith, contains, <, <=, >, >=)`},
		{"comps count", "{name: x, fields: [proc.name], comps: [=, =], values: [[a]]}", `exceptions: x: 1 fields but 2 comps`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New([]File{yamlFile("a.yaml", "- rule: R\n  condition: proc.tty\n  output: o\n  priority: INFO\n  exceptions:\n    -\n      "+c.exc+"\n")}, Options{})
			want := `a.yaml:`
			if err == nil || !contains(err.Error(), want) || !contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %s", err, c.want)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestFalcoSpellingsInConditions(t *testing.T) {
	e := mustNew(t, Options{}, yamlFile("a.yaml", `- rule: R
  condition: file.path startswith "/etc/" and file.path endswith ".conf"
  output: o
  priority: INFO
`))
	if len(e.Match(&event.Event{File: event.File{Path: "/etc/a.conf"}})) != 1 || len(e.Match(&event.Event{File: event.File{Path: "/etc/a"}})) != 0 {
		t.Error("startswith/endswith not accepted as startsWith/endsWith")
	}
}
