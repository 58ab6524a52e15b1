package falcolang

import "strings"

// Format prints a condition back in Falco's syntax, fully parenthesized,
// every value double-quoted except list names: Parse(Format(n)) has the
// meaning of n. Tests use it to rewrite conditions (e.g. over ruled.*
// fields) for the real Falco.
func Format(n Node) string {
	var b strings.Builder
	format(&b, n)
	return b.String()
}

// Quote double-quotes s for a Falco condition.
func Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func formatField(b *strings.Builder, f *FieldRef) {
	for i := len(f.Transformers) - 1; i >= 0; i-- {
		b.WriteString(f.Transformers[i] + "(")
	}
	b.WriteString(f.Name)
	if f.HasArg {
		b.WriteString("[" + f.Arg + "]")
	}
	for range f.Transformers {
		b.WriteByte(')')
	}
}

func format(b *strings.Builder, n Node) {
	switch x := n.(type) {
	case *BinaryExpr:
		b.WriteByte('(')
		format(b, x.L)
		b.WriteString(" " + x.Op + " ")
		format(b, x.R)
		b.WriteByte(')')
	case *NotExpr:
		b.WriteString("not ")
		format(b, x.X)
	case *Ident:
		b.WriteString(x.Name)
	case *Check:
		formatField(b, x.Field)
		b.WriteString(" " + x.Op)
		switch {
		case x.Op == "exists":
		case x.ValField != nil:
			b.WriteString(" val(")
			formatField(b, x.ValField)
			b.WriteByte(')')
		case x.ListName != "":
			b.WriteString(" (" + x.ListName + ")")
		case IsListOp(x.Op):
			b.WriteString(" (")
			for i, v := range x.Values {
				if i > 0 {
					b.WriteString(", ")
				}
				if v.Quoted {
					b.WriteString(Quote(v.Text))
				} else {
					// An unquoted word may name a list.
					b.WriteString(v.Text)
				}
			}
			b.WriteByte(')')
		default:
			b.WriteString(" " + Quote(x.Values[0].Text))
		}
	}
}
