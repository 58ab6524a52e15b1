package engine

import "testing"

func TestRewriteSpellings(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"startswith", `file.path startswith "/etc/"`, `file.path startsWith "/etc/"`},
		{"endswith", `file.path endswith ".log"`, `file.path endsWith ".log"`},
		{"inside string untouched", `proc.cmdline == "x startswith y"`, `proc.cmdline == "x startswith y"`},
		{"escaped quote", `proc.cmdline == "a\" startswith" and file.path endswith "x"`, `proc.cmdline == "a\" startswith" and file.path endsWith "x"`},
		{"single quotes", `proc.name == 'endswith'`, `proc.name == 'endswith'`},
		{"part of a word", `my_startswith or startswithx`, `my_startswith or startswithx`},
		{"already expr", `a startsWith "b"`, `a startsWith "b"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := rewriteSpellings(c.in); got != c.want {
				t.Errorf("got %s want %s", got, c.want)
			}
		})
	}
}

func FuzzRewriteSpellings(f *testing.F) {
	f.Add(`file.path startswith "/etc/" and 'x\'' endswith`)
	f.Fuzz(func(t *testing.T, s string) {
		if got := rewriteSpellings(s); len(got) != len(s) {
			t.Fatalf("length changed: %q -> %q", s, got)
		}
	})
}
