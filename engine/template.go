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
	size   int            // the text's literals and room for its values
	// nStrings counts the string fields of fields.
	nStrings int
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
	for _, p := range t.parts {
		t.size += len(p.lit)
		if p.lit == "" {
			t.size += 24
		}
	}
	for _, n := range alwaysFields {
		if !seen[n] {
			f, _ := event.Lookup(n)
			t.fields = append(t.fields, f)
		}
	}
	for _, f := range t.fields {
		if f.Kind == event.KindString {
			t.nStrings++
		}
	}
	return t, nil
}

func (t *template) render(ev *event.Event) (string, map[string]any) {
	// Each field's value is read once, for output_fields, and the text
	// formats that value: reading it again per part boxed it again (and ran
	// a Falco field's program again).
	m := make(map[string]any, len(t.fields)+len(t.falco))
	for _, f := range t.falco {
		m[f.name] = f.value(ev)
	}
	var strs []string // the string values' headers, boxed in place
	if t.nStrings > 0 {
		strs = make([]string, 0, t.nStrings)
	}
	for _, f := range t.fields {
		if _, ok := m[f.Name]; ok {
			continue
		}
		if f.Kind != event.KindString || f.Unknown(ev) || len(strs) == cap(strs) {
			m[f.Name] = f.OutputValue(ev)
			continue
		}
		strs = append(strs, *f.Ptr(ev).(*string))
		m[f.Name] = boxString(&strs[len(strs)-1])
	}
	var b strings.Builder
	b.Grow(t.size)
	for _, p := range t.parts {
		switch {
		case p.falco != nil:
			// nil (no value) and "" both print <NA>.
			b.WriteString(event.FormatValue(m[p.falco.name]))
		case p.field == nil:
			b.WriteString(p.lit)
		default:
			b.WriteString(event.FormatValue(m[p.field.Name]))
		}
	}
	return b.String(), m
}
