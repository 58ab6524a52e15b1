package falcoplugin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/ruled/ruled/sources/event"
)

// The event payload Falco carries (and writes into capture files) is a
// compact binary encoding, versioned by its first two bytes:
//
//	payload = magic version key member*
//	key     = 8 bytes, little endian: which event of this process (recent)
//	member  = uvarint(tag<<3 | wire) value
//
// tag is a field's place in wireFields plus one; wire says how the value
// is laid out, so a reader skips a member it does not know (a field added
// by a newer ruled) and still yields every field both versions know:
//
//	wireInt    zigzag varint (ints; bools as 0/1)
//	wireBytes  uvarint length, bytes (strings)
//	wireList   uvarint count, count × (uvarint length, bytes)
//	wireMap    uvarint count, count × (key, value) as in wireList
//	wireTime   zigzag varint seconds since 1970, uvarint nanoseconds,
//	           zigzag varint zone offset in seconds
//
// Zero values are not written. Payloads of plugins before this encoding
// are JSON lines, which start with '{' and still decode (decodePayload).
const (
	payloadMagic   = 0xF5 // never the first byte of JSON nor of UTF-8 text
	payloadVersion = 1
	payloadHeader  = 10 // magic, version, key
)

const (
	wireInt = iota
	wireBytes
	wireList
	wireMap
	wireTime
)

// wireFields fixes every event field's tag for good: a new field is
// appended, none is ever removed or reordered (TestWireFieldsComplete
// fails on a field missing here).
var wireFields = []string{
	"evt.type", "evt.syscall", "evt.time", "evt.source", "evt.success", "evt.res", "evt.keys",
	"proc.pid", "proc.tid", "proc.ppid", "proc.sid", "proc.vpid", "proc.name", "proc.exe",
	"proc.cmdline", "proc.args", "proc.cwd", "proc.uid", "proc.gid", "proc.euid", "proc.auid",
	"proc.user", "proc.tty", "proc.exe_upper_layer", "proc.pname", "proc.pexe", "proc.pcmdline",
	"proc.anames",
	"proc.stdin.type", "proc.stdin.name", "proc.stdin.l4proto", "proc.stdin.sip", "proc.stdin.sport",
	"proc.stdin.rip", "proc.stdin.rport",
	"proc.stdout.type", "proc.stdout.name", "proc.stdout.l4proto", "proc.stdout.sip",
	"proc.stdout.sport", "proc.stdout.rip", "proc.stdout.rport",
	"proc.stderr.type", "proc.stderr.name", "proc.stderr.l4proto", "proc.stderr.sip",
	"proc.stderr.sport", "proc.stderr.rip", "proc.stderr.rport",
	"container.id", "container.name", "container.image", "container.image_id", "container.runtime",
	"container.privileged", "container.labels",
	"k8s.pod.name", "k8s.ns.name",
	"ns.pid", "ns.net", "ns.mnt",
	"fd.type", "fd.l4proto", "fd.sip", "fd.sport", "fd.rip", "fd.rport", "fd.name",
	"file.path", "file.target", "file.write",
	"k8s.pod.uid",
	"proc.cap_effective", "proc.cap_permitted", "proc.cap_inheritable",
	"arg.flags", "arg.mode", "arg.request", "arg.pid", "arg.domain", "arg.type", "arg.uid", "arg.fd",
	"file.raw", "proc.env",
	"proc.sname", "proc.loginshellid", "proc.duration", "proc.loginname", "proc.homedir", "proc.shell",
	"proc.group", "fd.connected",
	"proc.pgid", "proc.vpgid",
	"proc.exe_ino", "proc.exe_ino_ctime", "proc.exe_ino_mtime", "proc.exe_writable",
}

// wireField is one entry of the codec's table, in tag order.
type wireField struct {
	key   uint64 // tag<<3 | wire
	wire  int
	field *event.Field
}

var wireTable, wireByTag = buildWire()

func buildWire() ([]wireField, []*wireField) {
	table := make([]wireField, 0, len(wireFields))
	byTag := make([]*wireField, len(wireFields)+1)
	for i, name := range wireFields {
		f, ok := event.Lookup(name)
		if !ok {
			panic("falcoplugin: wire field " + name + " is not an event field")
		}
		var wire int
		switch f.Kind {
		case event.KindString:
			wire = wireBytes
		case event.KindInt, event.KindBool:
			wire = wireInt
		case event.KindTime:
			wire = wireTime
		case event.KindStrings:
			wire = wireList
		case event.KindMap:
			wire = wireMap
		}
		table = append(table, wireField{key: uint64(i+1)<<3 | uint64(wire), wire: wire, field: f})
	}
	for i := range table {
		byTag[i+1] = &table[i]
	}
	return table, byTag
}

// encoder reuses one buffer across events; the bytes it returns are valid
// until the next encode.
type encoder struct {
	buf []byte
}

// encode returns ev's payload under key.
func (e *encoder) encode(ev *event.Event, key uint64) []byte {
	e.buf = appendPayload(e.buf[:0], ev, key)
	return e.buf
}

func appendPayload(b []byte, ev *event.Event, key uint64) []byte {
	b = append(b, payloadMagic, payloadVersion)
	b = binary.LittleEndian.AppendUint64(b, key)
	for i := range wireTable {
		w := &wireTable[i]
		switch p := w.field.Ptr(ev).(type) {
		case *string:
			if *p != "" {
				b = binary.AppendUvarint(b, w.key)
				b = appendString(b, *p)
			}
		case *int:
			if *p != 0 {
				b = binary.AppendUvarint(b, w.key)
				b = binary.AppendVarint(b, int64(*p))
			}
		case *bool:
			if *p {
				b = binary.AppendUvarint(b, w.key)
				b = binary.AppendVarint(b, 1)
			}
		case *time.Time:
			if !p.IsZero() {
				_, off := p.Zone()
				b = binary.AppendUvarint(b, w.key)
				b = binary.AppendVarint(b, p.Unix())
				b = binary.AppendUvarint(b, uint64(p.Nanosecond()))
				b = binary.AppendVarint(b, int64(off))
			}
		case *[]string:
			if len(*p) > 0 {
				b = binary.AppendUvarint(b, w.key)
				b = binary.AppendUvarint(b, uint64(len(*p)))
				for _, s := range *p {
					b = appendString(b, s)
				}
			}
		case *map[string]string:
			if len(*p) > 0 {
				b = binary.AppendUvarint(b, w.key)
				b = binary.AppendUvarint(b, uint64(len(*p)))
				for k, v := range *p {
					b = appendString(appendString(b, k), v)
				}
			}
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodePayload fills the zero ev from a payload of either encoding. b
// must not change afterwards: the strings of ev share its memory.
func decodePayload(b []byte, ev *event.Event) error {
	if len(b) > 0 && b[0] == payloadMagic {
		return decodeBinary(b, ev)
	}
	return decodeJSON(b, ev)
}

// payloadReader walks a binary payload held in one string, so every string
// field of the event is a slice of it and costs no allocation.
type payloadReader struct {
	s   string
	off int
	err error
}

var errTruncated = errors.New("truncated")

func (r *payloadReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if r.off >= len(r.s) {
			r.err = errTruncated
			return 0
		}
		c := r.s[r.off]
		r.off++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	r.err = errors.New("varint overflows 64 bits")
	return 0
}

func (r *payloadReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *payloadReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.s)-r.off) {
		r.err = errTruncated
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// count reads a list or map length, bounded by what the payload can hold
// (every element takes at least one byte), so a damaged count cannot make
// a huge allocation.
func (r *payloadReader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.s)-r.off) {
		r.err = errTruncated
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

// skip passes over a member of a field this version does not know.
func (r *payloadReader) skip(wire int) {
	switch wire {
	case wireInt:
		r.uvarint()
	case wireBytes:
		r.str()
	case wireList:
		for range r.count() {
			r.str()
		}
	case wireMap:
		for range r.count() {
			r.str()
			r.str()
		}
	case wireTime:
		r.varint()
		r.uvarint()
		r.varint()
	default:
		r.err = fmt.Errorf("unknown wire type %d", wire)
	}
}

func decodeBinary(b []byte, ev *event.Event) error {
	if len(b) >= 2 && b[1] != payloadVersion {
		return fmt.Errorf("payload version %d, this plugin reads %d", b[1], payloadVersion)
	}
	if len(b) < payloadHeader {
		return errTruncated
	}
	r := payloadReader{s: unsafe.String(unsafe.SliceData(b), len(b)), off: payloadHeader}
	for r.off < len(r.s) && r.err == nil {
		key := r.uvarint()
		tag, wire := key>>3, int(key&7)
		if tag == 0 || tag >= uint64(len(wireByTag)) || wireByTag[tag].wire != wire {
			r.skip(wire)
			continue
		}
		switch p := wireByTag[tag].field.Ptr(ev).(type) {
		case *string:
			*p = r.str()
		case *int:
			v := r.varint()
			if v < math.MinInt || v > math.MaxInt {
				return fmt.Errorf("%s: %d out of range", wireByTag[tag].field.Name, v)
			}
			*p = int(v)
		case *bool:
			*p = r.varint() != 0
		case *time.Time:
			sec, nsec, off := r.varint(), r.uvarint(), r.varint()
			if nsec >= 1e9 || off < -24*3600 || off > 24*3600 {
				return fmt.Errorf("%s: bad time", wireByTag[tag].field.Name)
			}
			t := time.Unix(sec, int64(nsec))
			if off == 0 {
				*p = t.UTC()
			} else {
				*p = t.In(time.FixedZone("", int(off)))
			}
		case *[]string:
			n := r.count()
			l := make([]string, n)
			for i := range l {
				l[i] = r.str()
			}
			*p = l
		case *map[string]string:
			n := r.count()
			m := make(map[string]string, n)
			for range n {
				k := r.str()
				m[k] = r.str()
			}
			*p = m
		}
	}
	if r.err != nil {
		return fmt.Errorf("binary payload at byte %d: %w", r.off, r.err)
	}
	return nil
}
