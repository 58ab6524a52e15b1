package falcolang

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/ruled/ruled/sources/event"
)

// MacroPrefix prefixes a Falco-language macro's name in the expr text
// Compile produces; Falco's lists and macros live in their own namespace,
// apart from the expr pack's.
const MacroPrefix = "falco__"

// Env resolves the names a condition uses.
type Env interface {
	// IsMacro reports whether name is a Falco-language macro.
	IsMacro(name string) bool
	// List returns the items of Falco-language list name, nested lists
	// expanded; ok is false when there is no such list.
	List(name string) (items []string, ok bool, err error)
	// MacroBody returns the parsed condition of Falco-language macro
	// name, nil if it has none (or does not parse).
	MacroBody(name string) Node
}

// Compile turns a parsed condition into expr source over event.Event.
// Macros become MacroPrefix+name identifiers for the caller to expand;
// lists are expanded in place.
func Compile(n Node, env Env) (string, error) {
	c := &compiler{env: env}
	var b strings.Builder
	if err := c.node(&b, n); err != nil {
		return "", err
	}
	return b.String(), nil
}

type compiler struct {
	env Env
}

func (c *compiler) node(b *strings.Builder, n Node) error {
	switch x := n.(type) {
	case *BinaryExpr:
		if x.Op == "and" {
			if never := c.neverType(x, map[string]bool{}); never != nil {
				// A conjunction requiring an event type ruled never
				// produces is false on every event ruled sees, whatever
				// else it tests (often fields of that event ruled lacks):
				// keep only its evt.type test, which also keeps the rule's
				// evt.type index.
				return c.node(b, never)
			}
		}
		b.WriteByte('(')
		if err := c.node(b, x.L); err != nil {
			return err
		}
		b.WriteString(" " + x.Op + " ")
		if err := c.node(b, x.R); err != nil {
			return err
		}
		b.WriteByte(')')
	case *NotExpr:
		b.WriteString("not (")
		if err := c.node(b, x.X); err != nil {
			return err
		}
		b.WriteByte(')')
	case *Ident:
		if !c.env.IsMacro(x.Name) {
			if _, ok, _ := c.env.List(x.Name); ok {
				return &CompileError{Offset: x.Offset, Msg: fmt.Sprintf("%s is a list, not a macro: use it after in (...)", x.Name)}
			}
			return &CompileError{Offset: x.Offset, Msg: fmt.Sprintf("undefined macro %s", x.Name)}
		}
		b.WriteString(MacroPrefix + x.Name)
	case *Check:
		s, err := c.check(x)
		if err != nil {
			return err
		}
		b.WriteString(s)
	default:
		return fmt.Errorf("falcolang: unknown node %T", n)
	}
	return nil
}

// values expands list names among unquoted values (Falco substitutes a list
// name in a value list by its items).
func (c *compiler) values(x *Check) ([]Value, error) {
	if x.ListName != "" {
		if _, ok, _ := c.env.List(x.ListName); ok {
			// Falco splices a list's items in place of its name, so without
			// parentheses the condition reads `in a, b` and fails to load.
			return nil, &CompileError{Offset: x.Values[0].Offset, Msg: fmt.Sprintf("write %s (%s): Falco splices a list's items without parentheses", x.Op, x.ListName)}
		}
		return nil, &CompileError{Offset: x.Values[0].Offset, Msg: fmt.Sprintf("undefined list %s", x.ListName)}
	}
	var out []Value
	for _, v := range x.Values {
		if !v.Quoted && IsListOp(x.Op) {
			items, ok, err := c.env.List(v.Text)
			if err != nil {
				return nil, &CompileError{Offset: v.Offset, Msg: fmt.Sprintf("list %s: %v", v.Text, err)}
			}
			if ok {
				for _, it := range items {
					out = append(out, Value{Text: it, Offset: v.Offset})
				}
				continue
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// IsListOp reports whether op compares a field with a list of values.
func IsListOp(op string) bool { return op == "in" || op == "intersects" || op == "pmatch" }

// field returns the expr text of a field with its transformers applied, its
// kind and its presence test.
func (c *compiler) field(f *FieldRef) (resolved, error) {
	if f.Name == "evt.num" {
		return resolved{}, &MissingError{Offset: f.Offset, What: "field evt.num"}
	}
	r, err := resolveField(f)
	if err != nil {
		return r, err
	}
	for _, t := range f.Transformers {
		switch t {
		case "len":
			if r.kind != KString && r.kind != KList {
				return r, &CompileError{Offset: f.Offset, Msg: fmt.Sprintf("len() applies to string and list fields, %s is a %s", f.Name, r.kind)}
			}
			r.expr, r.kind = "len("+r.expr+")", KInt
			continue
		}
		if r.kind != KString {
			return r, &CompileError{Offset: f.Offset, Msg: fmt.Sprintf("%s() applies to string fields, %s is a %s", t, f.Name, r.kind)}
		}
		switch t {
		case "tolower":
			r.expr = "lower(" + r.expr + ")"
		case "toupper":
			r.expr = "upper(" + r.expr + ")"
		case "basename":
			r.expr = "falco_base(" + r.expr + ")"
		case "b64":
			// A value that is not base64 cannot be extracted: every
			// comparison on it is false.
			r.present = andText(r.present, "falco_b64ok("+r.expr+")")
			r.expr = "falco_b64(" + r.expr + ")"
		}
	}
	return r, nil
}

func andText(a, b string) string {
	if a == "" {
		return b
	}
	return "(" + a + ") && (" + b + ")"
}

func (c *compiler) check(x *Check) (string, error) {
	if x.Field.Name == "evt.num" && len(x.Field.Transformers) == 0 && x.ValField == nil && len(x.Values) == 1 {
		if s, ok := evtNum(x.Op, x.Values[0].Text); ok {
			return s, nil
		}
	}
	f, err := c.field(x.Field)
	if err != nil {
		return "", err
	}
	if x.Field.Name == "evt.type" && len(x.Field.Transformers) == 0 && x.ValField == nil && x.Op != "exists" {
		vals, err := c.values(x)
		if err != nil {
			return "", err
		}
		return evtType(x, vals)
	}
	if x.Field.Name == "container.id" && len(x.Field.Transformers) == 0 && x.ValField == nil && shortIDFree(x) {
		// Falco's container.id is the id cut to 12 characters; compared
		// with values that are not 12 characters long (host, ""), the cut
		// cannot matter, so compare the full id and call nothing.
		f.expr = "container.id"
	}
	var cmp string
	present := f.present
	if x.Op == "exists" {
		if present == "" {
			return "true", nil
		}
		return "(" + present + ")", nil
	}
	if x.ValField != nil {
		g, err := c.field(x.ValField)
		if err != nil {
			return "", err
		}
		if g.kind != f.kind && !(g.kind == KIP && f.kind == KString || g.kind == KString && f.kind == KIP) {
			return "", &CompileError{Offset: x.ValField.Offset, Msg: fmt.Sprintf("cannot compare %s (%s) with %s (%s)", x.Field.Name, f.kind, x.ValField.Name, g.kind)}
		}
		present = andText(present, g.present)
		switch x.Op {
		case "=", "==", "!=", "<", "<=", ">", ">=":
			op := x.Op
			if op == "=" {
				op = "=="
			}
			cmp = "(" + f.expr + ") " + op + " (" + g.expr + ")"
		case "contains", "startswith", "endswith":
			cmp = "(" + f.expr + ") " + exprOp[x.Op] + " (" + g.expr + ")"
		case "in", "intersects":
			cmp = "(" + f.expr + ") == (" + g.expr + ")"
		default:
			return "", &CompileError{Offset: x.Offset, Msg: fmt.Sprintf("operator %s does not take a field on its right", x.Op)}
		}
	} else {
		vals, err := c.values(x)
		if err != nil {
			return "", err
		}
		cmp, err = compare(x, f, vals)
		if err != nil {
			return "", err
		}
	}
	if g := guard(x); g != "" {
		// A cheap test that must hold for the comparison to: it spares
		// the function call (and its allocation) on most events.
		cmp = "(" + g + ") && (" + cmp + ")"
	}
	if present == "" {
		return "(" + cmp + ")", nil
	}
	return "((" + present + ") && (" + cmp + "))", nil
}

// guard returns a pure expr test implied by x for derived fields whose
// derivation calls a function: fd.directory = D needs file.path to start
// with D/; proc.cwd (Falco's form ends in /) startswith V needs proc.cwd to
// start with V without its final /.
func guard(x *Check) string {
	if len(x.Field.Transformers) > 0 || x.ValField != nil {
		return ""
	}
	var parts []string
	switch {
	case x.Field.Name == "fd.directory" && (x.Op == "=" || x.Op == "==" || x.Op == "in"):
		for _, v := range x.Values {
			parts = append(parts, "file.path startsWith "+strconv.Quote(strings.TrimSuffix(v.Text, "/")+"/"))
		}
	case x.Field.Name == "proc.cwd" && x.Op == "startswith" && len(x.Values) == 1:
		parts = append(parts, "proc.cwd startsWith "+strconv.Quote(strings.TrimSuffix(x.Values[0].Text, "/")))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, " || ")
}

var exprOp = map[string]string{"contains": "contains", "startswith": "startsWith", "endswith": "endsWith"}

// evtNum folds comparisons of evt.num whose outcome is the same for every
// event: Falco numbers events from 1, so evt.num=0 never holds and
// evt.num>=0 always does (upstream files write never_true and always_true
// that way). Other uses need the number, which ruled does not keep.
func evtNum(op, v string) (string, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return "", false
	}
	switch {
	case (op == "=" || op == "==") && n < 1, (op == "<" && n <= 1), (op == "<=" && n < 1):
		return "false", true
	case op == "!=" && n < 1, (op == ">=" && n <= 1), (op == ">" && n < 1):
		return "true", true
	}
	return "", false
}

// literal renders one value as an expr literal of the field's kind.
func literal(x *Check, k Kind, v Value) (string, error) {
	switch k {
	case KInt:
		// Decimal only: libsinsp refuses 0x64 ("not a valid number").
		n, err := strconv.ParseInt(v.Text, 10, 64)
		if err != nil {
			u, uerr := strconv.ParseUint(v.Text, 10, 64)
			if uerr != nil {
				return "", &CompileError{Offset: v.Offset, Msg: fmt.Sprintf("%s is a number, %q is not", x.Field.Name, v.Text)}
			}
			n = int64(u)
		}
		return strconv.FormatInt(n, 10), nil
	case KBool:
		switch v.Text {
		case "true":
			return "true", nil
		case "false":
			return "false", nil
		}
		return "", &CompileError{Offset: v.Offset, Msg: fmt.Sprintf("%s is true or false, not %q", x.Field.Name, v.Text)}
	case KIP:
		a, err := netip.ParseAddr(v.Text)
		if err != nil {
			return "", &CompileError{Offset: v.Offset, Msg: fmt.Sprintf("%s is an address, %q is not", x.Field.Name, v.Text)}
		}
		return strconv.Quote(a.Unmap().String()), nil
	}
	return strconv.Quote(v.Text), nil
}

func literals(x *Check, k Kind, vals []Value) (string, error) {
	parts := make([]string, len(vals))
	for i, v := range vals {
		s, err := literal(x, k, v)
		if err != nil {
			return "", err
		}
		parts[i] = s
	}
	return "[" + strings.Join(parts, ", ") + "]", nil
}

// compare builds the comparison of field f (an expr text) with values.
func compare(x *Check, f resolved, vals []Value) (string, error) {
	op := x.Op
	if !IsListOp(op) && len(vals) != 1 {
		return "", &CompileError{Offset: x.Offset, Msg: fmt.Sprintf("operator %s takes one value", op)}
	}
	bad := func() error {
		return &CompileError{Offset: x.Offset, Msg: fmt.Sprintf("operator %s does not apply to %s (a %s)", op, x.Field.Name, f.kind)}
	}
	lhs := f.expr
	if lhs != "#" {
		lhs = "(" + lhs + ")"
	}
	switch f.kind {
	case KAncestors:
		// Any ancestor (parent upwards) for which the comparison holds.
		inner := *x
		s, err := compare(&inner, resolved{kind: KString, expr: "#"}, vals)
		if err != nil {
			return "", err
		}
		return "any(" + lhs + ", " + s + ")", nil
	case KList:
		set, err := literals(x, KString, vals)
		if err != nil {
			return "", err
		}
		switch op {
		case "in":
			return "all(" + lhs + ", # in " + set + ")", nil
		case "intersects":
			return "any(" + lhs + ", # in " + set + ")", nil
		}
		return "", bad()
	case KPorts:
		// libsinsp's fd.port: a test holds for either end, != for both.
		set, err := literals(x, KInt, vals)
		if err != nil {
			return "", err
		}
		var test func(end string) string
		switch op {
		case "in", "intersects":
			test = func(end string) string { return end + " in " + set }
		case "!=":
			return joinEnds(f.expr, " && ", func(end string) string { return end + " != " + strings.Trim(set, "[]") }), nil
		case "=", "==", "<", "<=", ">", ">=":
			if op == "=" {
				op = "=="
			}
			test = func(end string) string { return end + " " + op + " " + strings.Trim(set, "[]") }
		default:
			return "", bad()
		}
		return joinEnds(f.expr, " || ", test), nil
	case KNet:
		// Values are networks (CIDR) or single addresses.
		var nets []netip.Prefix
		for _, v := range vals {
			p, err := netip.ParsePrefix(v.Text)
			if err != nil {
				a, aerr := netip.ParseAddr(v.Text)
				if aerr != nil {
					return "", &CompileError{Offset: v.Offset, Msg: fmt.Sprintf("%s takes a network (10.0.0.0/8) or an address, not %q", x.Field.Name, v.Text)}
				}
				p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			nets = append(nets, p.Masked())
		}
		switch op {
		case "=", "==", "in", "intersects":
			return joinEnds(f.expr, " || ", func(end string) string { return inNets(end, nets) }), nil
		case "!=":
			// libsinsp: != holds when no end is in the network.
			return joinEnds(f.expr, " && ", func(end string) string { return "!" + inNets(end, nets) }), nil
		}
		return "", bad()
	}
	if f.kind == KIP {
		// An address equals another however it is written (an
		// IPv4-mapped IPv6 address is the IPv4 one): a one-address network.
		var nets []netip.Prefix
		for _, v := range vals {
			a, err := netip.ParseAddr(v.Text)
			if err != nil {
				return "", &CompileError{Offset: v.Offset, Msg: fmt.Sprintf("%s is an address, %q is not", x.Field.Name, v.Text)}
			}
			a = a.Unmap()
			nets = append(nets, netip.PrefixFrom(a, a.BitLen()))
		}
		switch op {
		case "=", "==", "in", "intersects":
			if len(nets) == 0 {
				return "false", nil
			}
			return inNets(lhs, nets), nil
		case "!=":
			return "!" + inNets(lhs, nets), nil
		}
		return "", bad()
	}
	switch op {
	case "=", "==", "!=", "<", "<=", ">", ">=":
		if f.kind == KBool && op != "=" && op != "==" && op != "!=" {
			return "", bad()
		}
		if f.kind == KIP && op != "=" && op != "==" && op != "!=" {
			return "", bad()
		}
		lit, err := literal(x, f.kind, vals[0])
		if err != nil {
			return "", err
		}
		if op == "=" {
			op = "=="
		}
		if f.unsigned && op != "==" && op != "!=" {
			return "falco_ucmp(" + lhs + ", " + lit + ") " + op + " 0", nil
		}
		return lhs + " " + op + " " + lit, nil
	case "in", "intersects":
		set, err := literals(x, f.kind, vals)
		if err != nil {
			return "", err
		}
		if len(vals) == 0 {
			return "false", nil
		}
		return lhs + " in " + set, nil
	}
	if f.kind != KString {
		return "", bad()
	}
	v := vals
	switch op {
	case "contains", "startswith", "endswith":
		return lhs + " " + exprOp[op] + " " + strconv.Quote(v[0].Text), nil
	case "icontains":
		return "lower(" + lhs + ") contains " + strconv.Quote(strings.ToLower(v[0].Text)), nil
	case "bcontains", "bstartswith":
		// libsinsp: only byte-buffer fields (evt.buffer ...), which ruled
		// does not collect; on a string field Falco refuses the rule.
		return "", &CompileError{Offset: x.Offset, Msg: fmt.Sprintf("operator %s applies to byte-buffer fields (evt.buffer), %s is a string", op, x.Field.Name)}
	case "glob":
		return "falco_glob(" + lhs + ", " + strconv.Quote(v[0].Text) + ")", nil
	case "iglob":
		return "falco_glob(lower(" + lhs + "), " + strconv.Quote(strings.ToLower(v[0].Text)) + ")", nil
	case "regex":
		if _, err := compileRegex(v[0].Text); err != nil {
			return "", &CompileError{Offset: v[0].Offset, Msg: fmt.Sprintf("regex %q: %v", v[0].Text, err)}
		}
		return lhs + " matches " + strconv.Quote("^(?:"+v[0].Text+")$"), nil
	case "pmatch":
		var ps []string
		for _, p := range v {
			ps = append(ps, p.Text)
		}
		sort.Strings(ps)
		return "falco_pmatch(" + lhs + ", " + strconv.Quote(strings.Join(ps, "\x00")) + ")", nil
	}
	return "", bad()
}

// evtType compiles a test of evt.type against Falco's syscall names:
// each name maps to ruled's normalized type, and where the names do not
// cover every syscall of that type, evt.syscall narrows it (an event whose
// syscall is unknown, as the proc connector's, matches any of them).
func evtType(x *Check, vals []Value) (string, error) {
	switch x.Op {
	case "=", "==", "!=", "in", "intersects":
	default:
		return "", &CompileError{Offset: x.Offset, Msg: fmt.Sprintf("evt.type takes =, != or in, not %s", x.Op)}
	}
	byType := map[string][]string{}
	var types []string
	for _, v := range vals {
		t := FalcoType(v.Text)
		if _, ok := byType[t]; !ok {
			types = append(types, t)
		}
		byType[t] = append(byType[t], v.Text)
	}
	sort.Strings(types)
	var full []string
	var parts []string
	for _, t := range types {
		names := byType[t]
		if coversType(t, names) {
			full = append(full, strconv.Quote(t))
			continue
		}
		sort.Strings(names)
		q := make([]string, 0, len(names)+1)
		for _, n := range names {
			q = append(q, strconv.Quote(n))
		}
		q = append(q, `""`)
		parts = append(parts, "(evt.type == "+strconv.Quote(t)+" && evt.syscall in ["+strings.Join(q, ", ")+"])")
	}
	switch len(full) {
	case 0:
	case 1:
		parts = append([]string{"evt.type == " + full[0]}, parts...)
	default:
		parts = append([]string{"evt.type in [" + strings.Join(full, ", ") + "]"}, parts...)
	}
	var s string
	switch len(parts) {
	case 0:
		s = "false"
	case 1:
		s = parts[0]
	default:
		s = "(" + strings.Join(parts, " || ") + ")"
	}
	if x.Op == "!=" {
		return "not (" + s + ")", nil
	}
	return s, nil
}

// FalcoType maps a Falco event type name to ruled's evt.type.
func FalcoType(name string) string {
	if t, ok := event.SyscallTypes[name]; ok {
		return t
	}
	if t, ok := falcoOnlyTypes[name]; ok {
		return t
	}
	return name
}

// falcoOnlyTypes are Falco event names that are not syscalls of ruled's
// audit table: the process lifecycle events the proc connector reports.
var falcoOnlyTypes = map[string]string{
	"procexit": event.TypeExit, "clone": event.TypeFork, "clone3": event.TypeFork, "fork": event.TypeFork, "vfork": event.TypeFork,
}

// coversType reports whether names include every syscall ruled maps to t.
func coversType(t string, names []string) bool {
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	any := false
	for s, st := range event.SyscallTypes {
		if st == t {
			any = true
			if !have[s] {
				return false
			}
		}
	}
	for s, st := range falcoOnlyTypes {
		if st == t {
			any = true
			if !have[s] {
				return false
			}
		}
	}
	return any || len(names) > 0
}

// shortIDFree reports whether a container.id test compares only with
// literal values that are not 12 characters long.
func shortIDFree(x *Check) bool {
	switch x.Op {
	case "=", "==", "!=":
	default:
		return false
	}
	for _, v := range x.Values {
		if len(v.Text) == 12 {
			return false
		}
	}
	return len(x.Values) > 0
}

// neverType returns a conjunct of the and-chain x (looking into macros
// used as conjuncts) that tests evt.type against event types none of which
// ruled produces, or nil.
func (c *compiler) neverType(x Node, seen map[string]bool) *Check {
	var conj []Node
	var flatten func(Node)
	flatten = func(n Node) {
		if b, ok := n.(*BinaryExpr); ok && b.Op == "and" {
			flatten(b.L)
			flatten(b.R)
			return
		}
		conj = append(conj, n)
	}
	flatten(x)
	for _, n := range conj {
		if id, ok := n.(*Ident); ok && !seen[id.Name] {
			seen[id.Name] = true
			if body := c.env.MacroBody(id.Name); body != nil {
				if ch := c.neverType(body, seen); ch != nil {
					return ch
				}
			}
			continue
		}
		ch, ok := n.(*Check)
		if !ok || ch.Field.Name != "evt.type" || len(ch.Field.Transformers) > 0 || ch.ValField != nil || ch.ListName != "" {
			continue
		}
		if ch.Op != "=" && ch.Op != "==" && ch.Op != "in" {
			continue
		}
		produced := false
		for _, v := range ch.Values {
			if Produced(FalcoType(v.Text)) {
				produced = true
				break
			}
		}
		if !produced && len(ch.Values) > 0 {
			return ch
		}
	}
	return nil
}

// Produced reports whether ruled produces events of type t.
func Produced(t string) bool {
	for _, p := range event.Types {
		if p == t {
			return true
		}
	}
	return false
}

// joinEnds applies test to each of the comma-separated end expressions of
// an either-end field (fd.net, fd.port) and joins the results with sep.
func joinEnds(ends, sep string, test func(end string) string) string {
	var parts []string
	for _, e := range strings.Split(ends, ", ") {
		parts = append(parts, test("("+e+")"))
	}
	return "(" + strings.Join(parts, sep) + ")"
}

// inNets tests whether address expression a is in one of nets. IPv4
// networks on octet boundaries are string prefix tests of the dotted form
// (exact for the canonical addresses ruled records), other networks and
// any address with a colon (IPv6, IPv4-mapped) go through falco_innet.
func inNets(a string, nets []netip.Prefix) string {
	var fast, slow []string
	var aligned []netip.Prefix
	for _, p := range nets {
		// 172.16.0.0/12 is 172.16.0.0/16 ... 172.31.0.0/16: up to 16
		// octet-aligned networks, each a prefix test.
		if extra := p.Bits() % 8; p.Addr().Is4() && extra != 0 && extra >= 4 {
			n := 1 << (8 - extra)
			a4 := p.Addr().As4()
			octet := p.Bits() / 8
			for i := range n {
				b := a4
				b[octet] += byte(i)
				aligned = append(aligned, netip.PrefixFrom(netip.AddrFrom4(b), p.Bits()-extra+8))
			}
			continue
		}
		aligned = append(aligned, p)
	}
	for _, p := range aligned {
		if p.Addr().Is4() && p.Bits()%8 == 0 {
			octets := strings.Split(p.Addr().String(), ".")[:p.Bits()/8]
			switch len(octets) {
			case 0:
				fast = append(fast, "("+a+` contains "."`+")")
			case 4:
				fast = append(fast, a+" == "+strconv.Quote(p.Addr().String()))
			default:
				fast = append(fast, a+" startsWith "+strconv.Quote(strings.Join(octets, ".")+"."))
			}
			slow = append(slow, p.String())
			continue
		}
		slow = append(slow, p.String())
	}
	set := strconv.Quote(strings.Join(slow, " "))
	call := "falco_innet(" + a + ", " + set + ")"
	if len(fast) == len(aligned) {
		// Only IPv4 networks on octet boundaries: the call is needed just
		// for addresses written with a colon.
		return "(" + strings.Join(fast, " || ") + " || " + a + ` contains ":" && ` + call + ")"
	}
	return call
}
