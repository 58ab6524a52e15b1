package falcoplugin

import (
	"fmt"
	"time"

	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk"

	"github.com/ruled/ruled/sources/event"
)

// FieldPrefix prefixes every event field in Falco: proc.name is
// ruled.proc.name.
const FieldPrefix = "ruled."

// Rule-match fields, filled when the init config names rules.
const (
	FieldRule     = "ruled.rule"
	FieldPriority = "ruled.priority"
	FieldOutput   = "ruled.output"
	FieldTags     = "ruled.tags"
	FieldRules    = "ruled.rules"
)

type fieldKind int

const (
	kindEvent fieldKind = iota
	kindRule
	kindPriority
	kindOutput
	kindTags
	kindRules
)

// fieldDef is one extractable field; its index in fieldDefs is the field id
// Falco passes back in extract requests.
type fieldDef struct {
	entry sdk.FieldEntry
	kind  fieldKind
	ev    *event.Field // kindEvent only
}

var fieldDefs = buildFields()

func buildFields() []fieldDef {
	var defs []fieldDef
	for _, f := range event.Fields() {
		e := sdk.FieldEntry{Name: FieldPrefix + f.Name, Desc: f.Doc, Display: f.Name}
		switch f.Kind {
		case event.KindString:
			e.Type = "string"
		case event.KindInt:
			// Falco has no signed integer field type: negative values
			// (evt.res errno, an unset id) arrive as two's complement.
			e.Type = "uint64"
			if f.Name == "evt.res" {
				e.Desc += " (negative values as two's complement: -111 is 18446744073709551505)"
			}
		case event.KindBool:
			e.Type = "bool"
		case event.KindTime:
			e.Type = "abstime"
		case event.KindStrings:
			e.Type = "string"
			e.IsList = true
			e.Arg = sdk.FieldEntryArg{IsIndex: true}
			e.Desc += " (" + e.Name + "[N]: the element at index N alone; no value past the end)"
		case event.KindMap:
			e.Type = "string"
			e.Arg = sdk.FieldEntryArg{IsKey: true, IsRequired: true}
			e.Desc += " (value of one key: " + e.Name + "[KEY])"
		}
		defs = append(defs, fieldDef{entry: e, kind: kindEvent, ev: f})
	}
	rule := func(name, typ string, list bool, k fieldKind, desc string) {
		defs = append(defs, fieldDef{
			entry: sdk.FieldEntry{Name: name, Type: typ, IsList: list, Desc: desc, Display: name[len(FieldPrefix):]},
			kind:  k,
		})
	}
	rule(FieldRule, "string", false, kindRule, "name of the first ruled rule that matched the event (init config rules); no value when none matched")
	rule(FieldPriority, "string", false, kindPriority, "priority of the first matching ruled rule (Falco spelling: Critical, Warning ...)")
	rule(FieldOutput, "string", false, kindOutput, "rendered output of the first matching ruled rule")
	rule(FieldTags, "string", true, kindTags, "tags of the first matching ruled rule")
	rule(FieldRules, "string", true, kindRules, "names of every ruled rule that matched the event")
	return defs
}

// FieldEntries returns the extractor's fields in field-id order.
func FieldEntries() []sdk.FieldEntry {
	out := make([]sdk.FieldEntry, len(fieldDefs))
	for i, d := range fieldDefs {
		out[i] = d.entry
	}
	return out
}

// eventValue converts an event field to what the SDK's SetValue expects for
// the field's Falco type; ok is false when the field has no value (a map
// key that is absent, a list index past the end). index >= 0 selects one
// element of a list field.
func eventValue(f *event.Field, ev *event.Event, key string, index int) (any, bool) {
	if index >= 0 {
		if p, ok := f.Ptr(ev).(*[]string); ok {
			if index >= len(*p) {
				return nil, false
			}
			return []string{(*p)[index]}, true
		}
	}
	switch p := f.Ptr(ev).(type) {
	case *string:
		return *p, true
	case *int:
		return uint64(int64(*p)), true
	case *bool:
		return *p, true
	case *time.Time:
		// A zero time is unknown (proc.exe_ino_ctime not read), not
		// year 1 (which abstime cannot hold).
		return *p, !p.IsZero()
	case *[]string:
		return *p, true
	case *map[string]string:
		s, ok := (*p)[key]
		return s, ok
	}
	return nil, false
}

func (d *fieldDef) check(req sdk.ExtractRequest) error {
	if d.entry.Arg.IsRequired && (!req.ArgPresent() || req.ArgKey() == "") {
		return fmt.Errorf("field %s needs a key: %s[KEY]", d.entry.Name, d.entry.Name)
	}
	return nil
}
