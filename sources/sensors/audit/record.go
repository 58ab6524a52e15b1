package audit

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unsafe"
)

// Record types (linux/audit.h) the normalizer reads. Other types of the same
// event are kept in the group but ignored.
const (
	TypeSyscall   uint16 = 1300
	TypePath      uint16 = 1302
	TypeConfig    uint16 = 1305 // CONFIG_CHANGE
	TypeSockaddr  uint16 = 1306
	TypeCwd       uint16 = 1307
	TypeExecve    uint16 = 1309
	TypeEOE       uint16 = 1320
	TypeProctitle uint16 = 1327
)

// Record is one audit record: its type and the text after the type, starting
// at "audit(SEC.MS:SEQ): ". Data is owned by the record.
type Record struct {
	Type uint16
	Data []byte
}

// ErrMalformed is returned for a record whose text does not follow the audit
// record format.
var ErrMalformed = errors.New("malformed audit record")

// Header returns the event time, the sequence number and the key=value body
// of a record's text ("audit(1700000000.123:42): arch=...").
func Header(data []byte) (t time.Time, seq uint64, body []byte, err error) {
	const prefix = "audit("
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return time.Time{}, 0, nil, fmt.Errorf("%w: no audit( header", ErrMalformed)
	}
	rest := data[len(prefix):]
	end := bytes.IndexByte(rest, ')')
	if end < 0 {
		return time.Time{}, 0, nil, fmt.Errorf("%w: unterminated header", ErrMalformed)
	}
	hdr := rest[:end]
	dot := bytes.IndexByte(hdr, '.')
	colon := bytes.IndexByte(hdr, ':')
	if dot < 0 || colon < dot {
		return time.Time{}, 0, nil, fmt.Errorf("%w: header %q", ErrMalformed, hdr)
	}
	sec, ok1 := atou(hdr[:dot])
	ms, ok2 := atou(hdr[dot+1 : colon])
	seq, ok3 := atou(hdr[colon+1:])
	if !ok1 || !ok2 || !ok3 || ms > 999 {
		return time.Time{}, 0, nil, fmt.Errorf("%w: header %q", ErrMalformed, hdr)
	}
	body = rest[end+1:]
	if len(body) > 0 && body[0] == ':' {
		body = body[1:]
	}
	return time.Unix(int64(sec), int64(ms)*int64(time.Millisecond)).UTC(), seq, bytes.TrimLeft(body, " "), nil
}

// atou parses a non-negative decimal without allocating.
func atou(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// nextField splits the first key=value pair off b. Values are either
// "quoted" (audit hex-encodes any value containing a quote or space, so a
// quoted value never holds a quote) or run to the next space. Words without
// '=' (rare, in some kernel records) come back with an empty value.
func nextField(b []byte) (key, val, rest []byte) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	if len(b) == 0 {
		return nil, nil, nil
	}
	eq := -1
	for i, c := range b {
		if c == '=' {
			eq = i
			break
		}
		if c == ' ' {
			return b[:i], nil, b[i:]
		}
	}
	if eq < 0 {
		return b, nil, nil
	}
	key = b[:eq]
	b = b[eq+1:]
	if len(b) > 0 && (b[0] == '"' || b[0] == '\'') {
		q := b[0]
		if end := bytes.IndexByte(b[1:], q); end >= 0 {
			return key, b[:end+2], b[end+2:]
		}
		return key, b, nil
	}
	if sp := bytes.IndexByte(b, ' '); sp >= 0 {
		return key, b[:sp], b[sp:]
	}
	return key, b, nil
}

// decodeValue returns a field's text: the inside of a quoted value, the
// hex-decoded bytes of an unquoted one (how audit encodes untrusted strings
// with spaces or control bytes), or "" for (null)/(none).
func decodeValue(v []byte) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return string(v[1 : len(v)-1])
	}
	if len(v) == 0 || v[0] == '(' {
		return ""
	}
	if s, ok := hexString(v); ok {
		return s
	}
	return string(v)
}

// hexString decodes upper- or lower-case hex into a string with a single
// allocation.
func hexString(v []byte) (string, bool) {
	if len(v)%2 != 0 {
		return "", false
	}
	if len(v) == 0 {
		return "", true
	}
	out := make([]byte, len(v)/2)
	for i := range out {
		hi, ok1 := unhex(v[2*i])
		lo, ok2 := unhex(v[2*i+1])
		if !ok1 || !ok2 {
			return "", false
		}
		out[i] = hi<<4 | lo
	}
	// out is never written again: the string takes it over instead of
	// copying it (as strings.Builder does).
	return unsafe.String(&out[0], len(out)), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// hexUint parses an unsigned hex number (syscall args a0..a3, arch).
func hexUint(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		d, ok := unhex(c)
		if !ok {
			return 0, false
		}
		n = n<<4 | uint64(d)
	}
	return n, true
}

// decInt parses a signed decimal without allocating.
func decInt(v []byte) (int64, bool) {
	neg := false
	if len(v) > 0 && v[0] == '-' {
		neg = true
		v = v[1:]
	}
	n, ok := atou(v)
	if !ok {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// typeNames maps the record type names auditd writes (type=NAME) to numbers
// for the types ruled reads; others come from recordTypeByName.
var typeNames = map[string]uint16{
	"SYSCALL":   TypeSyscall,
	"PATH":      TypePath,
	"SOCKADDR":  TypeSockaddr,
	"CWD":       TypeCwd,
	"EXECVE":    TypeExecve,
	"EOE":       TypeEOE,
	"PROCTITLE": TypeProctitle,
}

// ParseLogLine parses one line of an auditd log ("type=SYSCALL
// msg=audit(...): ..."). An optional "node=NAME " prefix is skipped, and the
// interpretations auditd's ENRICHED format appends after a 0x1d byte are cut
// off: ruled reads the raw values. Unknown type names (UNKNOWN[1234] or a
// name missing from the table) keep their number when auditd wrote it, and
// are otherwise given type 0 so that they are ignored.
func ParseLogLine(line []byte) (Record, error) {
	line = bytes.TrimRight(line, "\r\n")
	if i := bytes.IndexByte(line, 0x1d); i >= 0 {
		line = line[:i]
	}
	if bytes.HasPrefix(line, []byte("node=")) {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return Record{}, fmt.Errorf("%w: node without type", ErrMalformed)
		}
		line = line[sp+1:]
	}
	if !bytes.HasPrefix(line, []byte("type=")) {
		return Record{}, fmt.Errorf("%w: no type=", ErrMalformed)
	}
	line = line[len("type="):]
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return Record{}, fmt.Errorf("%w: no msg=", ErrMalformed)
	}
	name := line[:sp]
	line = line[sp+1:]
	if !bytes.HasPrefix(line, []byte("msg=")) {
		return Record{}, fmt.Errorf("%w: no msg=", ErrMalformed)
	}
	data := line[len("msg="):]
	if _, _, _, err := Header(data); err != nil {
		return Record{}, err
	}
	return Record{Type: recordType(name), Data: bytes.Clone(data)}, nil
}

func recordType(name []byte) uint16 {
	if t, ok := typeNames[string(name)]; ok {
		return t
	}
	// auditd writes UNKNOWN[1334] for types its tables lack.
	if bytes.HasPrefix(name, []byte("UNKNOWN[")) && bytes.HasSuffix(name, []byte("]")) {
		if n, err := strconv.ParseUint(string(name[8:len(name)-1]), 10, 16); err == nil {
			return uint16(n)
		}
	}
	return 0
}
