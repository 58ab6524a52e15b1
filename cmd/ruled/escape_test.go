package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ruled/ruled/sources/event"
)

// A watched process chooses its argv, comm and file names: the agent's log
// lines and the netstat table must not hand a terminal its escape sequences.
func TestLogAndTablesEscapeControlCharacters(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "debug")
	if err != nil {
		t.Fatal(err)
	}
	log.Warn("container audit watch not added", "container", "c\x1b[2J", "rule", "-w /tmp/\x7f", "name", "x\u009b")
	got := buf.String()
	for _, want := range []string{`container=c\x1b[2J`, `rule="-w /tmp/\\x7f"`, `name=x\u009b`} {
		if !strings.Contains(got, want) {
			t.Errorf("log line %q lacks %q", got, want)
		}
	}
	if line := strings.TrimSuffix(got, "\n"); event.Escape(line) != line {
		t.Errorf("control characters left in log line %q", got)
	}

	buf.Reset()
	rows := []netstatRow{{Proto: "tcp", Local: "127.0.0.1:1", Remote: "127.0.0.1:2", PID: 9, PIDs: []int{9}, Comm: "x\x1b]0;t\x07", ContainerID: "host", ContainerName: "n\x7f"}}
	if err := writeNetstatTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `x\x1b]0;t\x07`) || !strings.Contains(buf.String(), `n\x7f`) {
		t.Errorf("netstat table:\n%q", buf.String())
	}
	if event.Escape(strings.ReplaceAll(buf.String(), "\n", "")) != strings.ReplaceAll(buf.String(), "\n", "") {
		t.Errorf("control characters left in netstat table %q", buf.String())
	}
}
