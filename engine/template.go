package engine

import (
	"fmt"
	"strings"

	"github.com/ruled/ruled/sources/event"
)

// alwaysFields are in every alert's output_fields so it stands alone.
var alwaysFields = []string{"evt.type", "proc.pid", "proc.name", "proc.cmdline", "container.id", "container.name"}

type tplPart struct {
	lit   string
	field *event.Field
}

type template struct {
	parts  []tplPart
	fields []*event.Field // template fields then alwaysFields, no duplicates
}

func isFieldChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

// parseTemplate splits "text %proc.name text" into literals and fields.
// %% is a literal %; a % not followed by a field character is literal too.
func parseTemplate(s string) (*template, error) {
	t := &template{}
	var lit strings.Builder
	var bad []string
	seen := map[string]bool{}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isFieldChar(s[j]) {
			j++
		}
		name := strings.TrimRight(s[i+1:j], ".") // a sentence's full stop
		if name == "" {
			lit.WriteByte('%')
			continue
		}
		f, ok := event.Lookup(name)
		if !ok {
			bad = append(bad, name)
		} else {
			if lit.Len() > 0 {
				t.parts = append(t.parts, tplPart{lit: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, tplPart{field: f})
			if !seen[name] {
				seen[name] = true
				t.fields = append(t.fields, f)
			}
		}
		i += len(name)
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, tplPart{lit: lit.String()})
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("output: unknown field %s", strings.Join(bad, ", "))
	}
	for _, n := range alwaysFields {
		if !seen[n] {
			f, _ := event.Lookup(n)
			t.fields = append(t.fields, f)
		}
	}
	return t, nil
}

func (t *template) render(ev *event.Event) (string, map[string]any) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == nil {
			b.WriteString(p.lit)
		} else {
			b.WriteString(p.field.String(ev))
		}
	}
	m := make(map[string]any, len(t.fields))
	for _, f := range t.fields {
		m[f.Name] = f.Value(ev)
	}
	return b.String(), m
}
