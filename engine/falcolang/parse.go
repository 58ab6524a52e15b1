package falcolang

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// SyntaxError is a parse error at a byte offset of the condition.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return e.Msg }

// maxDepth bounds parenthesis and not nesting, as libsinsp's parser does,
// so a hostile condition cannot exhaust the stack.
const maxDepth = 100

// Transformers are the field transformers Falco defines, by name.
var Transformers = map[string]bool{"tolower": true, "toupper": true, "b64": true, "basename": true, "len": true}

// Operator spellings, longest first where one is a prefix of another.
var (
	numOps  = []string{"<=", "<", ">=", ">"}
	strOps  = []string{"==", "=", "!="}
	wordOps = []string{"glob", "iglob", "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "regex"}
	listOps = []string{"intersects", "in", "pmatch"}
)

// numberRE is libsinsp's HexNumber | Number.
var numberRE = regexp.MustCompile(`^(?:0[xX][0-9a-zA-Z]+|[+\-]?[0-9]+\.?[0-9]*(?:[eE][+\-][0-9]+)?)`)

type parser struct {
	src   string
	pos   int
	depth int
}

// Parse parses one Falco condition.
func Parse(src string) (Node, error) {
	p := &parser{src: src}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.blank()
	if p.pos < len(p.src) {
		return nil, p.errf("unexpected %s after a complete condition (a missing and/or, or an unbalanced parenthesis?)", p.near())
	}
	return n, nil
}

func (p *parser) errf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

// near describes the text at the cursor for error messages.
func (p *parser) near() string {
	if p.pos >= len(p.src) {
		return "end of condition"
	}
	rest := p.src[p.pos:]
	end := strings.IndexAny(rest, " \t\r\n")
	if end < 0 {
		end = len(rest)
	}
	if end > 20 {
		end = 20
		for end > 0 && !utf8.RuneStart(rest[end]) {
			end--
		}
	}
	return fmt.Sprintf("%q", rest[:end])
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\b' }

func (p *parser) blank() bool {
	start := p.pos
	for p.pos < len(p.src) && isBlank(p.src[p.pos]) {
		p.pos++
	}
	return p.pos > start
}

// keyword consumes kw when it is followed by a blank or '(' (or the end).
func (p *parser) keyword(kw string) bool {
	if !strings.HasPrefix(p.src[p.pos:], kw) {
		return false
	}
	end := p.pos + len(kw)
	if end < len(p.src) && !isBlank(p.src[end]) && p.src[end] != '(' && p.src[end] != ')' {
		return false
	}
	p.pos = end
	return true
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errf("condition nested deeper than %d levels", maxDepth)
	}
	return nil
}

func (p *parser) parseOr() (Node, error) { return p.parseBinary("or", p.parseAnd) }

func (p *parser) parseAnd() (Node, error) { return p.parseBinary("and", p.parseNot) }

// parseBinary parses operand (op operand)*, left-associative.
func (p *parser) parseBinary(op string, operand func() (Node, error)) (Node, error) {
	left, err := operand()
	if err != nil {
		return nil, err
	}
	for {
		save := p.pos
		p.blank()
		at := p.pos
		if !p.keyword(op) {
			p.pos = save
			return left, nil
		}
		right, err := operand()
		if err != nil {
			return nil, err
		}
		left = &BinaryExpr{Op: op, L: left, R: right, Offset: at}
	}
}

func (p *parser) parseNot() (Node, error) {
	p.blank()
	at := p.pos
	if p.keyword("not") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		x, err := p.parseNot()
		p.depth--
		if err != nil {
			return nil, err
		}
		return &NotExpr{X: x, Offset: at}, nil
	}
	return p.parseCheck()
}

func (p *parser) parseCheck() (Node, error) {
	p.blank()
	at := p.pos
	if p.pos >= len(p.src) {
		return nil, p.errf("expected a condition, got end of condition")
	}
	if p.src[p.pos] == '(' {
		if err := p.enter(); err != nil {
			return nil, err
		}
		p.pos++
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.blank()
		if p.pos >= len(p.src) || p.src[p.pos] != ')' {
			return nil, p.errf("expected ) to close a (, got %s", p.near())
		}
		p.pos++
		p.depth--
		return n, nil
	}
	if f, ok, err := p.tryTransformer(false); err != nil {
		return nil, err
	} else if ok {
		return p.parseCondition(f)
	}
	name := p.identifier()
	if name == "" {
		return nil, p.errf("expected a field, a macro name, not or (, got %s", p.near())
	}
	if !strings.Contains(name, ".") {
		switch name {
		case "and", "or":
			p.pos = at
			return nil, p.errf("expected a condition before %s", name)
		}
		return &Ident{Name: name, Offset: at}, nil
	}
	f := &FieldRef{Name: name, Offset: at}
	if err := p.fieldArg(f); err != nil {
		return nil, err
	}
	return p.parseCondition(f)
}

func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' || c == '_' }

// identifier reads [a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z][a-zA-Z0-9_]*)*: a macro
// name, or a field name when it has a dot. libsinsp allows a digit to start
// a later component (k8s field names), so we do too.
func (p *parser) identifier() string {
	start := p.pos
	if p.pos >= len(p.src) || !isIdentStart(p.src[p.pos]) {
		return ""
	}
	for p.pos < len(p.src) && isIdentChar(p.src[p.pos]) {
		p.pos++
	}
	for p.pos+1 < len(p.src) && p.src[p.pos] == '.' && isIdentChar(p.src[p.pos+1]) {
		p.pos++
		for p.pos < len(p.src) && isIdentChar(p.src[p.pos]) {
			p.pos++
		}
	}
	return p.src[start:p.pos]
}

// fieldArg reads an optional [arg] after a field name.
func (p *parser) fieldArg(f *FieldRef) error {
	if p.pos >= len(p.src) || p.src[p.pos] != '[' {
		return nil
	}
	p.pos++
	if p.pos < len(p.src) && (p.src[p.pos] == '"' || p.src[p.pos] == '\'') {
		s, err := p.quoted()
		if err != nil {
			return err
		}
		f.Arg = s
	} else {
		start := p.pos
		for p.pos < len(p.src) && !strings.ContainsRune(" \b\t\n\r[]\"'", rune(p.src[p.pos])) {
			p.pos++
		}
		if p.pos == start {
			return p.errf("expected an argument inside %s[...]", f.Name)
		}
		f.Arg = p.src[start:p.pos]
	}
	if p.pos >= len(p.src) || p.src[p.pos] != ']' {
		return p.errf("expected ] after the argument of %s", f.Name)
	}
	p.pos++
	f.HasArg = true
	return nil
}

// tryTransformer parses tolower(field), b64(toupper(field)) ...; with val,
// also val(field) (right-hand sides only).
func (p *parser) tryTransformer(val bool) (*FieldRef, bool, error) {
	start := p.pos
	name := p.identifier()
	if name == "" || strings.Contains(name, ".") || p.pos >= len(p.src) || p.src[p.pos] != '(' || !(Transformers[name] || val && name == "val") {
		p.pos = start
		return nil, false, nil
	}
	p.pos++ // (
	if err := p.enter(); err != nil {
		return nil, false, err
	}
	p.blank()
	var f *FieldRef
	if inner, ok, err := p.tryTransformer(false); err != nil {
		return nil, false, err
	} else if ok {
		if name == "val" {
			return nil, false, p.errf("val() takes a field, not a transformer")
		}
		f = inner
	} else {
		at := p.pos
		fn := p.identifier()
		if !strings.Contains(fn, ".") {
			p.pos = at
			return nil, false, p.errf("expected a field inside %s(...), got %s", name, p.near())
		}
		f = &FieldRef{Name: fn, Offset: at}
		if err := p.fieldArg(f); err != nil {
			return nil, false, err
		}
	}
	p.blank()
	if p.pos >= len(p.src) || p.src[p.pos] != ')' {
		return nil, false, p.errf("expected ) after the field of %s(...)", name)
	}
	p.pos++
	p.depth--
	if name != "val" {
		f.Transformers = append(f.Transformers, name)
	}
	f.Offset = start
	return f, true, nil
}

// operator reads the comparison operator after a field.
func (p *parser) operator() string {
	rest := p.src[p.pos:]
	if p.keyword("exists") {
		return "exists"
	}
	for _, group := range [][]string{numOps, strOps} {
		for _, op := range group {
			if strings.HasPrefix(rest, op) {
				p.pos += len(op)
				return op
			}
		}
	}
	for _, op := range wordOps {
		if strings.HasPrefix(rest, op) && len(rest) > len(op) && isBlank(rest[len(op)]) {
			p.pos += len(op)
			return op
		}
	}
	for _, op := range listOps {
		if p.keyword(op) {
			return op
		}
	}
	return ""
}

func (p *parser) parseCondition(f *FieldRef) (Node, error) {
	p.blank()
	op := p.operator()
	if op == "" {
		return nil, p.errf("expected an operator after %s (=, !=, <, in, contains, startswith, exists ...), got %s", f.Name, p.near())
	}
	c := &Check{Field: f, Op: op, Offset: f.Offset}
	if op == "exists" {
		return c, nil
	}
	p.blank()
	if vf, ok, err := p.tryTransformer(true); err != nil {
		return nil, err
	} else if ok {
		c.ValField = vf
		return c, nil
	}
	switch op {
	case "in", "intersects", "pmatch":
		if p.pos < len(p.src) && p.src[p.pos] == '(' {
			vals, err := p.listValue()
			if err != nil {
				return nil, err
			}
			c.Values = vals
			return c, nil
		}
		vat := p.pos
		name := p.identifier()
		if name == "" || strings.Contains(name, ".") {
			p.pos = vat
			return nil, p.errf("expected ( or a list name after %s, got %s", op, p.near())
		}
		c.ListName = name
		c.Values = []Value{{Text: name, Offset: vat}}
		return c, nil
	}
	if op == "<" || op == "<=" || op == ">" || op == ">=" {
		// libsinsp's grammar: a number (or a transformer) after <, >.
		vat := p.pos
		if m := numberRE.FindString(p.src[p.pos:]); m != "" {
			p.pos += len(m)
			c.Values = []Value{{Text: m, Offset: vat}}
			return c, nil
		}
		return nil, p.errf("expected a number after %s, got %s", op, p.near())
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	c.Values = []Value{v}
	return c, nil
}

// listValue reads ( v, v, ... ), flattening nested parentheses.
func (p *parser) listValue() ([]Value, error) {
	p.pos++ // (
	if err := p.enter(); err != nil {
		return nil, err
	}
	var out []Value
	p.blank()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
		p.depth--
		return out, nil
	}
	for {
		p.blank()
		if p.pos < len(p.src) && p.src[p.pos] == '(' {
			sub, err := p.listValue()
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		} else {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		p.blank()
		if p.pos >= len(p.src) {
			return nil, p.errf("expected , or ) in the list, got end of condition")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ')':
			p.pos++
			p.depth--
			return out, nil
		default:
			return nil, p.errf("expected , or ) in the list, got %s", p.near())
		}
	}
}

// value reads a quoted string or a bare word ([^ \b\t\n\r(),="']+).
func (p *parser) value() (Value, error) {
	at := p.pos
	if p.pos < len(p.src) && (p.src[p.pos] == '"' || p.src[p.pos] == '\'') {
		s, err := p.quoted()
		if err != nil {
			return Value{}, err
		}
		return Value{Text: s, Quoted: true, Offset: at}, nil
	}
	for p.pos < len(p.src) && !strings.ContainsRune(" \b\t\n\r(),=\"'", rune(p.src[p.pos])) {
		p.pos++
	}
	if p.pos == at {
		return Value{}, p.errf("expected a value, got %s", p.near())
	}
	return Value{Text: p.src[at:p.pos], Offset: at}, nil
}

// quoted reads a "..." or '...' string. A backslash escapes the quote and
// itself; \n, \t, \r, \b, \f become their control characters; any other
// escaped character stays as written with its backslash (libsinsp's
// unescaping).
func (p *parser) quoted() (string, error) {
	q := p.src[p.pos]
	start := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == q:
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.src):
			n := p.src[p.pos+1]
			switch n {
			case '\\', '"', '\'':
				b.WriteByte(n)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			default:
				b.WriteByte('\\')
				b.WriteByte(n)
			}
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	p.pos = start
	return "", p.errf("unterminated string starting here")
}

// Unquote returns s without its quotes when s is one whole quoted string,
// as a list item spliced into a condition reads; else s.
func Unquote(s string) string {
	if len(s) < 2 || (s[0] != '"' && s[0] != '\'') || s[len(s)-1] != s[0] {
		return s
	}
	p := &parser{src: s}
	v, err := p.quoted()
	if err != nil || p.pos != len(s) {
		return s
	}
	return v
}
