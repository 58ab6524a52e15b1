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
	falco *falcoField
}

type template struct {
	parts  []tplPart
	fields []*event.Field // template fields then alwaysFields, no duplicates
	falco  []*falcoField  // a Falco-language rule's fields, Falco-named
}

func isFieldChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

// parseTemplate splits "text %proc.name text" into literals and fields.
// %% is a literal %; a % not followed by a field character is literal too.
func parseTemplate(s string, lang Lang) (*template, error) {
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
		if lang == LangFalco {
			// Falco's fields, with an optional [argument].
			if j < len(s) && s[j] == '[' && len(name) == j-i-1 {
				if k := strings.IndexByte(s[j:], ']'); k > 0 {
					name = s[i+1 : j+k+1]
				}
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, tplPart{lit: lit.String()})
				lit.Reset()
			}
			ff := newFalcoField(name)
			t.parts = append(t.parts, tplPart{falco: ff})
			if !seen[name] {
				seen[name] = true
				t.falco = append(t.falco, ff)
			}
			i += len(name)
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
		switch {
		case p.falco != nil:
			v := p.falco.value(ev)
			if v == nil {
				b.WriteString("<NA>")
			} else {
				b.WriteString(event.FormatValue(v))
			}
		case p.field == nil:
			b.WriteString(p.lit)
		default:
			b.WriteString(p.field.String(ev))
		}
	}
	m := make(map[string]any, len(t.fields)+len(t.falco))
	for _, f := range t.falco {
		m[f.name] = f.value(ev)
	}
	for _, f := range t.fields {
		if _, ok := m[f.Name]; !ok {
			m[f.Name] = f.OutputValue(ev)
		}
	}
	return b.String(), m
}
