package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ruled/ruled/inspect"
)

// What a container chose (label, command line, changed path, alert text)
// reaches the terminal escaped, never as a raw control sequence.
func TestWriteInspectEscapes(t *testing.T) {
	r := &inspect.Report{
		Container: inspect.Container{ID: "abc", Name: "web", Labels: map[string]string{"x": "a\x1b[2Jb"}},
		Processes: []inspect.Process{{PID: 7, Exe: "/tmp/\x1b]0;t\x07", Cmdline: "sh -c \x1b[2J"}},
		Changes:   []inspect.Change{{Kind: "A", Path: "/tmp/\u009bevil"}},
	}
	var buf bytes.Buffer
	if err := writeInspect(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{"\x1b", "\x07", "\u009b"} {
		if strings.Contains(out, bad) {
			t.Errorf("report holds raw %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{`x=a\x1b[2Jb`, `sh -c \x1b[2J`, `/tmp/\x1b]0;t\x07`, `/tmp/\u009bevil`} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %s:\n%s", want, out)
		}
	}
}
