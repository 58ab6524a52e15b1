package falcolang

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// argFields document the fields whose meaning depends on an argument or a
// prefix, which the alias table cannot list one by one.
var argFields = [][2]string{
	{"proc.aname[N]", "N=0: proc.name; N>=1: proc.anames[N-1]; no value past the last ancestor"},
	{"proc.aname", "without an index (filters only): true when any ancestor (parent upwards) satisfies the comparison"},
	{"proc.aexepath[N]", "N=0: proc.exe; N=1: proc.pexe; higher levels need data ruled does not keep"},
	{"container.label[K], container.labels[K]", "container.labels[K]; no value when the key is absent"},
	{"evt.num", "ruled keeps no event number: `evt.num = 0` is false and `evt.num >= 0` true on every event (Falco numbers from 1), other tests need the number"},
	{"ruled.FIELD", "ruled's own FIELD with the plugin's meaning inside Falco (ruled.proc.exe is the path); an empty list has no value; a list field takes an index (ruled.proc.args[1]: that element alone); integers order as uint64"},
}

// WriteAliasTable writes the alias table as Markdown rows for
// rules/README.md.
func WriteAliasTable(w io.Writer) error {
	names := make([]string, 0, len(Aliases))
	for n := range Aliases {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("| Falco field | in ruled |\n|---|---|\n")
	for _, n := range names {
		a := Aliases[n]
		doc := a.Doc
		if a.Present != "" {
			doc += " (no value unless `" + a.Present + "`)"
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", n, strings.ReplaceAll(doc, "|", "\\|"))
	}
	for _, f := range argFields {
		fmt.Fprintf(&b, "| `%s` | %s |\n", f[0], f[1])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
