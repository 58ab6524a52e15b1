package falcolang

// Node is a Falco condition syntax tree node.
type Node interface {
	// Pos is the byte offset of the node in the condition text.
	Pos() int
}

// BinaryExpr is `L and R` or `L or R`.
type BinaryExpr struct {
	Op     string // "and", "or"
	L, R   Node
	Offset int
}

// NotExpr is `not X`.
type NotExpr struct {
	X      Node
	Offset int
}

// Ident is a bare identifier: a macro reference.
type Ident struct {
	Name   string
	Offset int
}

// FieldRef is a field with an optional argument (proc.aname[2]) and the
// transformers applied to it, innermost last: tolower(b64(x)) is
// Transformers ["tolower", "b64"].
type FieldRef struct {
	Name         string
	Arg          string
	HasArg       bool
	Transformers []string
	Offset       int
}

// Value is one right-hand side value: a literal, or a list name when
// Ident is set (an unquoted word that may name a list).
type Value struct {
	Text   string
	Quoted bool
	Offset int
}

// Check is `field op value(s)`.
type Check struct {
	Field *FieldRef
	Op    string // lower case: "=", "!=", "in", "exists", "startswith" ...
	// Values is the value of a single-value operator, or the items of a
	// list operator's (...) with nested lists flattened.
	Values []Value
	// ListName is set for `in list_name` without parentheses.
	ListName string
	// ValField is the field of `op val(field)` or `op tolower(field)`.
	ValField *FieldRef
	Offset   int
}

// Pos implements Node.
func (n *BinaryExpr) Pos() int { return n.Offset }

// Pos implements Node.
func (n *NotExpr) Pos() int { return n.Offset }

// Pos implements Node.
func (n *Ident) Pos() int { return n.Offset }

// Pos implements Node.
func (n *Check) Pos() int { return n.Offset }
