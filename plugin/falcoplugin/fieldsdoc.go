package falcoplugin

import (
	"fmt"
	"io"
	"strings"
)

// WriteFieldsDoc writes the Markdown field table of the plugin (plugin/FIELDS.md).
func WriteFieldsDoc(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# libruled.so fields\n\n")
	b.WriteString("Generated from the code by `go test ./plugin/falcoplugin -run TestFieldsDoc -update`; do not edit.\n\n")
	b.WriteString("Every field of a ruled event is `ruled.` + its name in ruled rules; the last five are\n")
	b.WriteString("filled when the plugin's init config names ruled rules and the event matched one.\n")
	b.WriteString("Falco has no signed integer field type: integers are uint64, a negative value\n")
	b.WriteString("(an errno in evt.res) arrives as its two's complement. Unknown values are empty/zero,\n")
	b.WriteString("as in ruled; a map key that is absent and the rule fields of an unmatched event have no value.\n\n")
	b.WriteString("| field | type | description |\n|---|---|---|\n")
	for _, e := range FieldEntries() {
		typ := e.Type
		name := e.Name
		if e.IsList {
			typ += " (list)"
		}
		if e.Arg.IsKey {
			name += "[KEY]"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, typ, strings.ReplaceAll(e.Desc, "|", `\|`))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
