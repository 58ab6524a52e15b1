package engine

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong in a rules file.
type Problem struct {
	File string
	Line int
	Item string // `rule "X"`, `macro "Y"`, `list "Z"` or ""
	Msg  string
}

func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Item != "" {
		b.WriteString(p.Item)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// LoadError reports every problem found while loading rules; nothing of a
// failed load is used.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

func itemLabel(kind, name string) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf("%s %q", kind, name)
}
