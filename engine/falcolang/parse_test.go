package falcolang

import (
	"errors"
	"strings"
	"testing"
)

// show prints an AST compactly, to compare parses.
func show(n Node) string {
	switch x := n.(type) {
	case *BinaryExpr:
		return "(" + show(x.L) + " " + x.Op + " " + show(x.R) + ")"
	case *NotExpr:
		return "not " + show(x.X)
	case *Ident:
		return "@" + x.Name
	case *Check:
		f := x.Field.Name
		if x.Field.HasArg {
			f += "[" + x.Field.Arg + "]"
		}
		for _, t := range x.Field.Transformers {
			f = t + "(" + f + ")"
		}
		var vals []string
		for _, v := range x.Values {
			if v.Quoted {
				vals = append(vals, `"`+v.Text+`"`)
			} else {
				vals = append(vals, v.Text)
			}
		}
		s := f + " " + x.Op
		if x.ValField != nil {
			s += " val(" + x.ValField.Name + ")"
		} else if len(vals) > 0 || x.Op != "exists" {
			s += " [" + strings.Join(vals, ",") + "]"
		}
		return s
	}
	return "?"
}

func TestParse(t *testing.T) {
	cases := []struct{ in, want string }{
		{`proc.name = sh`, `proc.name = [sh]`},
		{`proc.name=sh`, `proc.name = [sh]`},
		{`a and b or c`, `((@a and @b) or @c)`},
		{`a or b and c`, `(@a or (@b and @c))`},
		{`not a and b`, `(not @a and @b)`},
		{`not not a`, `not not @a`},
		{`not(a)`, `not @a`},
		{`a and(b or c)`, `(@a and (@b or @c))`},
		{`a or(b)`, `(@a or @b)`},
		{`fd.name startswith /etc/ and fd.name endswith "x y"`, `(fd.name startswith [/etc/] and fd.name endswith ["x y"])`},
		{`proc.name in (a, 'b c', "d\"e")`, `proc.name in [a,"b c","d"e"]`},
		{`proc.name in (a, (b, c), ())`, `proc.name in [a,b,c]`},
		{`proc.name in(a)`, `proc.name in [a]`},
		{`proc.name in shell_binaries`, `proc.name in [shell_binaries]`},
		{`proc.aname[2] = java`, `proc.aname[2] = [java]`},
		{`container.mount.dest[/var/run/docker.sock] exists`, `container.mount.dest[/var/run/docker.sock] exists`},
		{`container.label["a b"] = x`, `container.label[a b] = [x]`},
		{`(container.id exists)`, `container.id exists`},
		{`tolower(b64(proc.name)) = x`, `tolower(b64(proc.name)) = [x]`},
		{`proc.name = val(proc.pname)`, `proc.name = val(proc.pname)`},
		{`proc.pid >= -1`, `proc.pid >= [-1]`},
		{`fd.name = "<NA>"`, `fd.name = ["<NA>"]`},
		{`evt.arg.flags contains O_TRUNC`, `evt.arg.flags contains [O_TRUNC]`},
	}
	for _, c := range cases {
		n, err := Parse(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got := show(n); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		in     string
		offset int
		want   string
	}{
		{`proc.name =`, 11, "expected a value"},
		{`proc.name sh`, 10, "expected an operator"},
		{`a and`, 5, "expected a condition"},
		{`(a`, 2, "expected ) to close"},
		{`a b`, 2, "unexpected"},
		{`proc.name in (a, b`, 18, "expected , or )"},
		{`proc.name in a.b`, 13, "expected ( or a list name"},
		{`proc.name = "abc`, 12, "unterminated string"},
		{`proc.aname[2 = x`, 12, "expected ]"},
		{`tolower(proc.name = x`, 18, "expected )"},
		{`contains(proc.name) = x`, 8, "unexpected"},
		{strings.Repeat("(", 200) + "a" + strings.Repeat(")", 200), 100, "nested deeper"},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%s: err = %v, want a SyntaxError", c.in, err)
			continue
		}
		if se.Offset != c.offset || !strings.Contains(se.Msg, c.want) {
			t.Errorf("%s: err at %d %q, want at %d %q", c.in, se.Offset, se.Msg, c.offset, c.want)
		}
	}
}

func TestUnquote(t *testing.T) {
	for in, want := range map[string]string{`"10.0.0.0/8"`: "10.0.0.0/8", `'a'`: "a", `"a`: `"a`, `a"`: `a"`, `"a" "b"`: `"a" "b"`, `"a\"b"`: `a"b`} {
		if got := Unquote(in); got != want {
			t.Errorf("Unquote(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true}, {"*", "/a/b", true}, {"/a/*", "/a/b/c", true}, {"?", "", false}, {"a?c", "abc", true},
		{"[abc]", "b", true}, {"[!abc]", "b", false}, {"[a-c]x", "bx", true}, {"[]]", "]", true}, {`\*`, "*", true},
		{`\*`, "a", false}, {"[", "[", true}, {"*.sh", "run.sh", true}, {"*.sh", "run.shx", false},
	}
	for _, c := range cases {
		if got := Glob(c.pat, c.s); got != c.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", c.pat, c.s, got, c.want)
		}
	}
}

func TestPmatch(t *testing.T) {
	set := "/etc\x00/var/run/"
	for p, want := range map[string]bool{"/etc": true, "/etc/shadow": true, "/etcx": false, "/var/run/docker.sock": true, "/var": false, "": false} {
		if got := pmatch(p, set); got != want {
			t.Errorf("pmatch(%q) = %v, want %v", p, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`proc.name = sh`, `a and not (b or c)`, `proc.name in (a, (b, c))`, `tolower(proc.aname[2]) glob "x*"`,
		`fd.name pmatch (/etc) and evt.type in (open, openat)`, `proc.name = val(proc.pname)`, `"`, `(`, `not(`} {
		f.Add(s)
	}
	env := fuzzEnv{}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("%q: bad error %v", s, err)
			}
			return
		}
		_, _ = Compile(n, env)
	})
}

type fuzzEnv struct{}

func (fuzzEnv) IsMacro(name string) bool   { return name == "m" }
func (fuzzEnv) MacroBody(name string) Node { return nil }
func (fuzzEnv) List(name string) ([]string, bool, error) {
	if name == "l" {
		return []string{"a", "b"}, true, nil
	}
	return nil, false, nil
}
