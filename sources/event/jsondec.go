package event

import (
	"reflect"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// fastDecode decodes the common shape of a JSON event without reflection:
// every key spelled as the schema spells it, no null, integers without
// fraction or exponent, strings whose escapes are the short ones or \uXXXX
// outside the surrogates, valid UTF-8, nothing after the object but
// white space. On anything else it reports false and the caller decodes
// again with encoding/json, which then gives the value or the error it
// always gave (case-insensitive keys, unknown fields, U+FFFD for bad
// UTF-8 ...). So the two agree on every input; FuzzDecodeDifferential
// holds them to it.
//
// ev must be the zero Event: a partial decode is undone by zeroing it.
func fastDecode(b []byte, ev *Event) bool {
	// One copy of the line; every string of the event without escapes is a
	// slice of it rather than an allocation of its own.
	d := decoder{b: string(b)}
	d.ws()
	if !d.object(func(k string) bool { return d.event(k, ev) }) {
		return false
	}
	d.ws()
	return d.i == len(d.b)
}

// isZero reports whether ev is the zero Event, the only value fastDecode
// may write into (encoding/json merges into what is already there).
func isZero(ev *Event) bool {
	return reflect.ValueOf(ev).Elem().IsZero()
}

type decoder struct {
	b string
	i int
	// scratch holds unescaped string bytes between strings.
	scratch []byte
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) consume(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads {"key": value, ...}; member is called with the key (valid
// until the next string read) and reads the value.
func (d *decoder) object(member func(key string) bool) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	for {
		d.ws()
		k, ok := d.rawKey()
		if !ok || !d.consume(':') {
			return false
		}
		d.ws()
		if !member(k) {
			return false
		}
		if d.consume(',') {
			continue
		}
		return d.consume('}')
	}
}

// rawKey reads a key that needs no unescaping: every schema key is plain
// ASCII, so any other key is unknown to the fast path anyway.
func (d *decoder) rawKey() (string, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return "", false
	}
	start := d.i + 1
	j := start
	for j < len(d.b) && plain[d.b[j]] {
		j++
	}
	if j < len(d.b) && d.b[j] == '"' {
		d.i = j + 1
		return d.b[start:j], true
	}
	return "", false
}

// plain marks the bytes a string may hold as they are: not the quote, the
// backslash, a control character or the start of a multi-byte sequence.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a JSON string value.
func (d *decoder) str() (string, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return "", false
	}
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.b); j++ {
		for j < len(d.b) && plain[d.b[j]] {
			j++
		}
		if j == len(d.b) {
			break
		}
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[start:j]
			if !ascii && !utf8.ValidString(s) {
				return "", false
			}
			d.i = j + 1
			return s, true
		case c == '\\':
			return d.unescape(start)
		case c < 0x20:
			return "", false
		default: // >= 0x80
			ascii = false
		}
	}
	return "", false
}

// unescape reads the string starting at start (after the quote) that has
// at least one escape.
func (d *decoder) unescape(start int) (string, bool) {
	out := d.scratch[:0]
	j := start
	for j < len(d.b) {
		c := d.b[j]
		switch {
		case c == '"':
			d.i = j + 1
			d.scratch = out
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(d.b) {
			return "", false
		}
		switch d.b[j+1] {
		case '"', '\\', '/':
			out = append(out, d.b[j+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if j+6 > len(d.b) {
				return "", false
			}
			r, ok := hex4(d.b[j+2 : j+6])
			if !ok {
				return "", false
			}
			j += 6
			if r >= 0xD800 && r < 0xE000 {
				// A pair makes one rune; a lone surrogate (U+FFFD for
				// encoding/json) is left to encoding/json.
				if r >= 0xDC00 || j+6 > len(d.b) || d.b[j] != '\\' || d.b[j+1] != 'u' {
					return "", false
				}
				lo, ok := hex4(d.b[j+2 : j+6])
				if !ok || lo < 0xDC00 || lo >= 0xE000 {
					return "", false
				}
				r = utf16.DecodeRune(r, lo)
				j += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return "", false
		}
		j += 2
	}
	return "", false
}

func hex4(b string) (rune, bool) {
	var r rune
	for _, c := range []byte(b) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// int reads an integer literal: -?(0|[1-9][0-9]*) that fits an int64.
func (d *decoder) int() (int, bool) {
	j := d.i
	neg := false
	if j < len(d.b) && d.b[j] == '-' {
		neg = true
		j++
	}
	start := j
	var u uint64
	for j < len(d.b) && d.b[j] >= '0' && d.b[j] <= '9' {
		if u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(d.b[j]-'0')
		j++
	}
	n := j - start
	if n == 0 || (n > 1 && d.b[start] == '0') || u > 1<<63 || (!neg && u == 1<<63) {
		return 0, false
	}
	if j < len(d.b) {
		switch d.b[j] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	d.i = j
	if neg {
		return int(-int64(u)), true
	}
	return int(u), true
}

func (d *decoder) bool() (bool, bool) {
	rest := d.b[d.i:]
	if len(rest) >= 4 && rest[:4] == "true" {
		d.i += 4
		return true, true
	}
	if len(rest) >= 5 && rest[:5] == "false" {
		d.i += 5
		return false, true
	}
	return false, false
}

// strings reads an array of strings; [] is an empty, non-nil slice as
// encoding/json makes it.
func (d *decoder) strings() ([]string, bool) {
	if !d.consume('[') {
		return nil, false
	}
	if d.consume(']') {
		return []string{}, true
	}
	// Gathered on the stack, then copied once at the exact length.
	var arr [32]string
	list := arr[:0]
	for {
		d.ws()
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		list = append(list, s)
		if d.consume(',') {
			continue
		}
		return slices.Clone(list), d.consume(']')
	}
}

// strMap reads an object of strings into m, made if nil.
func (d *decoder) strMap(m *map[string]string) bool {
	if !d.consume('{') {
		return false
	}
	if *m == nil {
		*m = map[string]string{}
	}
	if d.consume('}') {
		return true
	}
	for {
		d.ws()
		k, ok := d.str()
		if !ok || !d.consume(':') {
			return false
		}
		d.ws()
		v, ok := d.str()
		if !ok {
			return false
		}
		(*m)[k] = v
		if d.consume(',') {
			continue
		}
		return d.consume('}')
	}
}

func (d *decoder) setStr(p *string) bool {
	s, ok := d.str()
	*p = s
	return ok
}

func (d *decoder) setInt(p *int) bool {
	v, ok := d.int()
	*p = v
	return ok
}

func (d *decoder) setBool(p *bool) bool {
	v, ok := d.bool()
	*p = v
	return ok
}

func (d *decoder) setStrings(p *[]string) bool {
	v, ok := d.strings()
	*p = v
	return ok
}

func (d *decoder) event(k string, ev *Event) bool {
	switch k {
	case "evt":
		return d.object(func(k string) bool { return d.evt(k, &ev.Evt) })
	case "proc":
		return d.object(func(k string) bool { return d.proc(k, &ev.Proc) })
	case "container":
		return d.object(func(k string) bool { return d.container(k, &ev.Container) })
	case "k8s":
		return d.object(func(k string) bool {
			switch k {
			case "pod":
				return d.k8sPod(&ev.K8s.Pod)
			case "ns":
				return d.k8sName(&ev.K8s.NS)
			}
			return false
		})
	case "ns":
		return d.object(func(k string) bool {
			switch k {
			case "pid":
				return d.setInt(&ev.NS.PID)
			case "net":
				return d.setInt(&ev.NS.Net)
			case "mnt":
				return d.setInt(&ev.NS.Mnt)
			}
			return false
		})
	case "fd":
		return d.object(func(k string) bool { return d.fd(k, &ev.FD) })
	case "file":
		return d.object(func(k string) bool {
			switch k {
			case "path":
				return d.setStr(&ev.File.Path)
			case "target":
				return d.setStr(&ev.File.Target)
			case "write":
				return d.setBool(&ev.File.Write)
			case "raw":
				return d.setStr(&ev.File.Raw)
			}
			return false
		})
	case "arg":
		return d.object(func(k string) bool { return d.arg(k, &ev.Arg) })
	}
	return false
}

func (d *decoder) evt(k string, e *Evt) bool {
	switch k {
	case "type":
		return d.setStr(&e.Type)
	case "syscall":
		return d.setStr(&e.Syscall)
	case "time":
		// time.Time's own UnmarshalJSON on the raw literal, as
		// encoding/json calls it.
		start := d.i
		if _, ok := d.str(); !ok {
			return false
		}
		return e.Time.UnmarshalJSON([]byte(d.b[start:d.i])) == nil
	case "source":
		return d.setStr(&e.Source)
	case "success":
		return d.setBool(&e.Success)
	case "res":
		return d.setInt(&e.Res)
	case "keys":
		return d.setStrings(&e.Keys)
	}
	return false
}

func (d *decoder) proc(k string, p *Proc) bool {
	switch k {
	case "pid":
		return d.setInt(&p.PID)
	case "tid":
		return d.setInt(&p.TID)
	case "ppid":
		return d.setInt(&p.PPID)
	case "sid":
		return d.setInt(&p.SID)
	case "vpid":
		return d.setInt(&p.VPID)
	case "name":
		return d.setStr(&p.Name)
	case "exe":
		return d.setStr(&p.Exe)
	case "cmdline":
		return d.setStr(&p.Cmdline)
	case "args":
		return d.setStrings(&p.Args)
	case "cwd":
		return d.setStr(&p.Cwd)
	case "uid":
		return d.setInt(&p.UID)
	case "gid":
		return d.setInt(&p.GID)
	case "euid":
		return d.setInt(&p.EUID)
	case "auid":
		return d.setInt(&p.AUID)
	case "user":
		return d.setStr(&p.User)
	case "tty":
		return d.setBool(&p.TTY)
	case "exe_upper_layer":
		return d.setBool(&p.ExeUpperLayer)
	case "pname":
		return d.setStr(&p.PName)
	case "pexe":
		return d.setStr(&p.PExe)
	case "pcmdline":
		return d.setStr(&p.PCmdline)
	case "anames":
		return d.setStrings(&p.ANames)
	case "cap_effective":
		return d.setStrings(&p.CapEffective)
	case "cap_permitted":
		return d.setStrings(&p.CapPermitted)
	case "cap_inheritable":
		return d.setStrings(&p.CapInheritable)
	case "env":
		return d.setStrings(&p.Env)
	case "stdin":
		return d.object(func(k string) bool { return d.stdio(k, &p.Stdin) })
	case "stdout":
		return d.object(func(k string) bool { return d.stdio(k, &p.Stdout) })
	case "stderr":
		return d.object(func(k string) bool { return d.stdio(k, &p.Stderr) })
	}
	return false
}

func (d *decoder) stdio(k string, s *Stdio) bool {
	switch k {
	case "type":
		return d.setStr(&s.Type)
	case "name":
		return d.setStr(&s.Name)
	case "l4proto":
		return d.setStr(&s.L4Proto)
	case "sip":
		return d.setStr(&s.SIP)
	case "sport":
		return d.setInt(&s.SPort)
	case "rip":
		return d.setStr(&s.RIP)
	case "rport":
		return d.setInt(&s.RPort)
	}
	return false
}

func (d *decoder) container(k string, c *Container) bool {
	switch k {
	case "id":
		return d.setStr(&c.ID)
	case "name":
		return d.setStr(&c.Name)
	case "image":
		return d.setStr(&c.Image)
	case "image_id":
		return d.setStr(&c.ImageID)
	case "runtime":
		return d.setStr(&c.Runtime)
	case "privileged":
		return d.setBool(&c.Privileged)
	case "labels":
		return d.strMap(&c.Labels)
	}
	return false
}

func (d *decoder) k8sPod(p *K8sPod) bool {
	return d.object(func(k string) bool {
		switch k {
		case "name":
			return d.setStr(&p.Name)
		case "uid":
			return d.setStr(&p.UID)
		}
		return false
	})
}

func (d *decoder) k8sName(n *K8sName) bool {
	return d.object(func(k string) bool {
		if k == "name" {
			return d.setStr(&n.Name)
		}
		return false
	})
}

func (d *decoder) fd(k string, f *FD) bool {
	switch k {
	case "type":
		return d.setStr(&f.Type)
	case "l4proto":
		return d.setStr(&f.L4Proto)
	case "sip":
		return d.setStr(&f.SIP)
	case "sport":
		return d.setInt(&f.SPort)
	case "rip":
		return d.setStr(&f.RIP)
	case "rport":
		return d.setInt(&f.RPort)
	case "name":
		return d.setStr(&f.Name)
	}
	return false
}

func (d *decoder) arg(k string, a *Arg) bool {
	switch k {
	case "flags":
		return d.setStrings(&a.Flags)
	case "mode":
		return d.setStrings(&a.Mode)
	case "request":
		return d.setInt(&a.Request)
	case "pid":
		return d.setInt(&a.PID)
	case "domain":
		return d.setInt(&a.Domain)
	case "type":
		return d.setInt(&a.Type)
	case "uid":
		return d.setInt(&a.UID)
	case "fd":
		return d.setInt(&a.FD)
	}
	return false
}
