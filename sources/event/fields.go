package event

import (
	"reflect"
	"sort"
	"strings"
	"time"
	"unsafe"
)

// Kind is the type of a field as rules, templates and the plugin see it.
type Kind int

// Field kinds.
const (
	KindString Kind = iota
	KindInt
	KindBool
	KindTime
	KindStrings // []string
	KindMap     // map[string]string
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindInt:
		return "int"
	case KindBool:
		return "bool"
	case KindTime:
		return "time"
	case KindStrings:
		return "[]string"
	case KindMap:
		return "map[string]string"
	}
	return "unknown"
}

// Field is one leaf of the event, named by its dotted path.
type Field struct {
	Name   string // "proc.stdin.type"
	Kind   Kind
	Doc    string
	index  []int
	offset uintptr // from the start of Event
}

// Ptr returns a pointer to the field in ev, typed by Kind: *string, *int,
// *bool, *time.Time, *[]string or *map[string]string. Unlike Value it
// neither reflects nor allocates, for the per-event paths (the plugin's
// codec and extraction).
func (f *Field) Ptr(ev *Event) any {
	p := unsafe.Add(unsafe.Pointer(ev), f.offset)
	switch f.Kind {
	case KindString:
		return (*string)(p)
	case KindInt:
		return (*int)(p)
	case KindBool:
		return (*bool)(p)
	case KindTime:
		return (*time.Time)(p)
	case KindStrings:
		return (*[]string)(p)
	case KindMap:
		return (*map[string]string)(p)
	}
	panic("event: field " + f.Name + " of unknown kind")
}

// Value returns the field's value in ev: string, int, bool, time.Time,
// []string or map[string]string according to Kind.
func (f *Field) Value(ev *Event) any {
	// Read at the field's offset (as Ptr): alerts read several fields per
	// match, and reflect's walk to the field cost more than the read.
	p := unsafe.Add(unsafe.Pointer(ev), f.offset)
	switch f.Kind {
	case KindString:
		return *(*string)(p)
	case KindInt:
		return *(*int)(p)
	case KindBool:
		return *(*bool)(p)
	case KindTime:
		return *(*time.Time)(p)
	case KindStrings:
		return *(*[]string)(p)
	case KindMap:
		return *(*map[string]string)(p)
	}
	panic("event: field " + f.Name + " of unknown kind")
}

// String renders the field's value as an output template shows it: <NA>
// when ev does not know it (Unknown).
func (f *Field) String(ev *Event) string {
	return FormatValue(f.OutputValue(ev))
}

var (
	fields  []*Field
	byName  map[string]*Field
	typeTim = reflect.TypeOf(time.Time{})
)

func init() {
	byName = make(map[string]*Field)
	walk(reflect.TypeOf(Event{}), "", nil, 0, "")
	sort.Slice(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
}

func walk(t reflect.Type, prefix string, index []int, offset uintptr, parentDoc string) {
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("expr")
		if name == "" {
			continue
		}
		full := name
		if prefix != "" {
			full = prefix + "." + name
		}
		idx := append(append([]int(nil), index...), i)
		doc := sf.Tag.Get("doc")
		var kind Kind
		switch {
		case sf.Type == typeTim:
			kind = KindTime
		case sf.Type.Kind() == reflect.Struct:
			d := doc
			if d == "" {
				d = parentDoc
			}
			walk(sf.Type, full, idx, offset+sf.Offset, d)
			continue
		case sf.Type.Kind() == reflect.String:
			kind = KindString
		case sf.Type.Kind() == reflect.Int:
			kind = KindInt
		case sf.Type.Kind() == reflect.Bool:
			kind = KindBool
		case sf.Type.Kind() == reflect.Slice:
			kind = KindStrings
		case sf.Type.Kind() == reflect.Map:
			kind = KindMap
		default:
			panic("event: unsupported field type " + sf.Type.String())
		}
		if parentDoc != "" && doc != "" && strings.HasPrefix(full, "proc.std") {
			doc = parentDoc + ": " + doc
		}
		f := &Field{Name: full, Kind: kind, Doc: doc, index: idx, offset: offset + sf.Offset}
		fields = append(fields, f)
		byName[full] = f
	}
}

// Fields returns every event field, sorted by name.
func Fields() []*Field { return fields }

// Lookup returns the field called name ("proc.name").
func Lookup(name string) (*Field, bool) {
	f, ok := byName[name]
	return f, ok
}
