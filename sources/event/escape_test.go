package event

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendEscaped(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "sh -c id", "sh -c id"},
		{"utf-8 and backslash kept", `é ü \x 日本`, `é ü \x 日本`},
		{"newline tab cr", "a\nb\tc\rd", `a\nb\tc\rd`},
		{"ESC clear screen", "\x1b[2J", `\x1b[2J`},
		{"NUL BEL DEL", "\x00\x07\x7f", `\x00\x07\x7f`},
		{"C1 as UTF-8", "\u0085\u009b", `\u0085\u009b`},
		{"first rune past C1 kept", "\u00a0", "\u00a0"},
		{"raw C1 byte, not UTF-8", "a\x9bb", `a\x9bb`},
		{"truncated UTF-8", "x\xc3", `x\xc3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendEscaped(nil, tt.in)); got != tt.want {
				t.Errorf("AppendEscaped(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := Escape(tt.in); got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEscapeCleanDoesNotAllocate(t *testing.T) {
	s := "/usr/bin/python3 -c print('é')"
	if n := testing.AllocsPerRun(100, func() { _ = Escape(s) }); n != 0 {
		t.Errorf("Escape of a clean string: %v allocs", n)
	}
}

// TestEscapeLogAttr: log lines are human-readable output too, and slog's
// text handler writes DEL raw when it does not quote a value.
func TestEscapeLogAttr(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: EscapeLogAttr}))
	log.Info("m", "exe", "/tmp/x\x7f\x1b[2J", "name", "a\u009bb", "err", errors.New("open /tmp/\x7f: denied"), "n", 3)
	got := buf.String()
	for _, want := range []string{`exe=/tmp/x\x7f\x1b[2J`, `name=a\u009bb`, `err="open /tmp/\\x7f: denied"`, "n=3"} {
		if !strings.Contains(got, want) {
			t.Errorf("log line %q lacks %q", got, want)
		}
	}
	if Escape(strings.TrimSuffix(got, "\n")) != strings.TrimSuffix(got, "\n") {
		t.Errorf("control characters left in %q", got)
	}
}

func FuzzAppendEscaped(f *testing.F) {
	f.Add("sh -c id")
	f.Add("\x1b[2J\u009b\x9b\x7f\n")
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendEscaped(nil, s)
		if !utf8.Valid(out) {
			t.Fatalf("%q -> %q: not UTF-8", s, out)
		}
		for _, r := range string(out) {
			if r < 0x20 || r >= 0x7f && r <= 0x9f {
				t.Fatalf("%q -> %q: control %U left", s, out, r)
			}
		}
		if needsEscape(s) != (string(out) != s) {
			t.Fatalf("%q: needsEscape %v but output %q", s, needsEscape(s), out)
		}
	})
}
