package ruletest

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/ruled/ruled/engine"
)

func loadEngine(t *testing.T) *engine.Engine {
	t.Helper()
	files, err := engine.ReadPaths([]string{"testdata/rules.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(files, engine.Options{RateLimit: engine.RateLimit{Rate: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRunPassAndFail(t *testing.T) {
	e := loadEngine(t)
	cases, err := ReadFiles([]string{"testdata/cases.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	res := Run(e, cases)
	if res.Passed != 2 || res.Failed != 1 {
		t.Fatalf("result = %+v", res)
	}
	var out bytes.Buffer
	res.Report(&out)
	want := `FAIL testdata/cases.yaml:14: wrong expectation
    missing: "Nope"
    unexpected: "Any shell"
2 passed, 1 failed
`
	if out.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
	}
	if u := UnknownExpectations(e, cases); len(u) != 1 || !strings.Contains(u[0], `"Nope"`) {
		t.Errorf("unknown expectations = %v", u)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"unknown event field", "- name: a\n  event: {proc: {nmae: x}}\n  expect: []\n", `t.yaml:2: event: json: unknown field "nmae"`},
		{"unknown key", "- name: a\n  event: {}\n  expect: []\n  expected: []\n", `t.yaml:4: unknown key "expected" (want name, event, expect)`},
		{"missing expect", "- name: a\n  event: {}\n", `t.yaml:1: test "a" has no expect (use [] when no rule may fire)`},
		{"missing name", "- event: {}\n  expect: []\n", `t.yaml:1: test without a name`},
		{"duplicate", "- {name: a, event: {}, expect: []}\n- {name: a, event: {}, expect: []}\n", `t.yaml:2: duplicate test name "a" (first at line 1)`},
		{"not a list", "name: a\n", `t.yaml:1: a test file is a YAML list of tests`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(c.in))
			if err == nil || err.Error() != c.want {
				t.Errorf("err = %v, want %s", err, c.want)
			}
		})
	}
}

func TestReadFilesDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/b.yaml", []byte("- {name: b, event: {}, expect: []}\n"), 0o644)
	os.WriteFile(dir+"/a.yml", []byte("- {name: a, event: {}, expect: []}\n"), 0o644)
	os.WriteFile(dir+"/notes.txt", []byte("x"), 0o644)
	cs, err := ReadFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Name != "a" || cs[1].Name != "b" {
		t.Errorf("cases = %+v", cs)
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile("testdata/cases.yaml")
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		Parse("f.yaml", data)
	})
}
