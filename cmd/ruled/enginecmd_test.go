package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = dispatch(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

const td = "testdata/enginecmd/"

func TestValidateCmd(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		code      int
		stdout    string
		stderrHas []string
	}{
		{"builtin pack", []string{"validate"}, 0, "", nil},
		{"good file", []string{"validate", "-rules", td + "good.yaml"}, 0, "1 rules (1 disabled), 1 macros, 1 lists loaded from " + td + "good.yaml\n", nil},
		{"bad file", []string{"validate", "-rules", td + "bad.yaml"}, 1, "", []string{
			td + `bad.yaml:3: rule "Bad": condition: unknown field proc.exee (1:6)`,
			td + `bad.yaml:9: rule "Worse": output: unknown field proc.nope`,
			"2 problems"}},
		{"missing file", []string{"validate", "-rules", td + "nope.yaml"}, 1, "", []string{"nope.yaml"}},
		{"usage", []string{"validate", "extra"}, 2, "", []string{"unexpected argument"}},
		{"bad flag", []string{"validate", "-bogus"}, 2, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := run(t, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, errOut)
			}
			if c.stdout != "" && out != c.stdout {
				t.Errorf("stdout = %q, want %q", out, c.stdout)
			}
			if c.code == 0 && !strings.Contains(out, "rules") {
				t.Errorf("no summary: %q", out)
			}
			for _, s := range c.stderrHas {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
		})
	}
}

func TestRuleTestCmd(t *testing.T) {
	code, out, errOut := run(t, "test", "-rules", td+"good.yaml", td+"tests.yaml")
	if code != 0 || out != "2 passed, 0 failed\n" {
		t.Errorf("passing: exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, _ = run(t, "test", "-rules", td+"good.yaml", td+"tests.yaml", td+"failing.yaml")
	want := "FAIL " + td + "failing.yaml:1: expects the wrong thing\n    unexpected: \"Shell from java\"\n2 passed, 1 failed\n"
	if code != 1 || out != want {
		t.Errorf("failing: exit %d stdout:\n%s\nwant:\n%s", code, out, want)
	}
	if code, _, _ := run(t, "test"); code != 2 {
		t.Errorf("no test files: exit %d, want 2", code)
	}
	if code, _, errOut := run(t, "test", "-rules", td+"bad.yaml", td+"tests.yaml"); code != 1 || !strings.Contains(errOut, "proc.exee") {
		t.Errorf("bad rules: exit %d stderr %s", code, errOut)
	}
}

func TestEventsCmd(t *testing.T) {
	code, out, errOut := run(t, "events", "-replay", td+"events.jsonl")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"name":"sh"`) {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, errOut = run(t, "events", "-rules", td+"good.yaml", "-filter", `spawned and proc.name in shells`, "-replay", td+"events.jsonl")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"pid":10`) {
		t.Fatalf("filtered: exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, _, errOut = run(t, "events", "-filter", `proc.nme == "x"`, "-replay", td+"events.jsonl")
	if code != 2 || !strings.Contains(errOut, "unknown field proc.nme (1:6)") {
		t.Errorf("bad filter: exit %d stderr %q", code, errOut)
	}
	code, _, errOut = run(t, "events", "-sources", "audit,ebpf")
	if code != 2 || !strings.Contains(errOut, `unknown source "ebpf"`) {
		t.Errorf("bad source: exit %d stderr %q", code, errOut)
	}
}
