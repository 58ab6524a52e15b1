package netns

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// Kind is one of the four socket tables of a namespace.
type Kind uint8

// The tables, named like their /proc/PID/net files.
const (
	TCP Kind = iota
	TCP6
	UDP
	UDP6
)

// Kinds lists the tables in the order Cache reads them.
var Kinds = []Kind{TCP, TCP6, UDP, UDP6}

var kindNames = [...]string{TCP: "tcp", TCP6: "tcp6", UDP: "udp", UDP6: "udp6"}

// String returns the file name under /proc/PID/net.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// L4Proto returns fd.l4proto: "tcp" or "udp".
func (k Kind) L4Proto() string {
	if k == UDP || k == UDP6 {
		return "udp"
	}
	return "tcp"
}

// IPv6 reports a tcp6/udp6 table.
func (k Kind) IPv6() bool { return k == TCP6 || k == UDP6 }

// State is a TCP state as include/net/tcp_states.h numbers it. UDP sockets
// show Established when connected and Close otherwise.
type State uint8

// TCP states.
const (
	Established State = iota + 1
	SynSent
	SynRecv
	FinWait1
	FinWait2
	TimeWait
	Close
	CloseWait
	LastAck
	Listen
	Closing
	NewSynRecv
)

var stateNames = [...]string{
	Established: "ESTABLISHED", SynSent: "SYN_SENT", SynRecv: "SYN_RECV",
	FinWait1: "FIN_WAIT1", FinWait2: "FIN_WAIT2", TimeWait: "TIME_WAIT",
	Close: "CLOSE", CloseWait: "CLOSE_WAIT", LastAck: "LAST_ACK",
	Listen: "LISTEN", Closing: "CLOSING", NewSynRecv: "NEW_SYN_RECV",
}

// StateName is how netstat shows a socket's state: the TCP state, and for
// UDP, which has no connection states, CONNECTED or nothing.
func (s Socket) StateName() string {
	if s.Kind == UDP || s.Kind == UDP6 {
		if s.State == Established {
			return "CONNECTED"
		}
		return ""
	}
	return s.State.String()
}

func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return fmt.Sprintf("STATE_%02X", uint8(s))
}

// Socket is one line of a socket table. IPv4-mapped addresses of tcp6/udp6
// sockets are unmapped (::ffff:127.0.0.1 -> 127.0.0.1), as a process and
// audit's connect record would name them.
type Socket struct {
	Kind   Kind
	Local  netip.AddrPort
	Remote netip.AddrPort
	State  State
	UID    uint32
	Inode  uint64 // 0 for TIME_WAIT and request sockets: no file holds them
}

// Name is fd.name: "sip:sport->rip:rport".
func (s Socket) Name() string {
	return s.Local.String() + "->" + s.Remote.String()
}

// ErrFormat reports a line that is not a socket table line.
var ErrFormat = errors.New("bad socket table line")

// maxTable bounds one table read (about 150 bytes per socket: 4 MiB is
// some 27,000 sockets in one namespace).
const maxTable = 64 << 20

// ParseTable parses one /proc/PID/net/{tcp,tcp6,udp,udp6} file and calls fn
// for every socket. Addresses are hex 32-bit words in the host's byte order
// (little-endian on x86): one word for IPv4, four for IPv6.
func ParseTable(r io.Reader, kind Kind, fn func(Socket)) error {
	b, err := io.ReadAll(io.LimitReader(r, maxTable))
	if err != nil {
		return fmt.Errorf("read %s table: %w", kind, err)
	}
	return parseTable(b, kind, fn)
}

func parseTable(b []byte, kind Kind, fn func(Socket)) error {
	lineNo := 0
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		lineNo++
		line = bytes.TrimSpace(line)
		if len(line) == 0 || bytes.HasPrefix(line, []byte("sl")) {
			continue
		}
		s, err := parseLine(line, kind)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", kind, lineNo, err)
		}
		fn(s)
	}
	return nil
}

// parseLine parses "sl: local remote st tx:rx tr:when retrnsmt uid timeout inode ...".
func parseLine(line []byte, kind Kind) (Socket, error) {
	var f [10][]byte
	n := 0
	for n < len(f) {
		line = bytes.TrimLeft(line, " ")
		if len(line) == 0 {
			break
		}
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			i = len(line)
		}
		f[n], line = line[:i], line[i:]
		n++
	}
	if n < len(f) {
		return Socket{}, ErrFormat
	}
	s := Socket{Kind: kind}
	var ok bool
	if s.Local, ok = parseAddrPort(f[1], kind.IPv6()); !ok {
		return Socket{}, ErrFormat
	}
	if s.Remote, ok = parseAddrPort(f[2], kind.IPv6()); !ok {
		return Socket{}, ErrFormat
	}
	st, ok := parseHex(f[3])
	if !ok || st > 0xff {
		return Socket{}, ErrFormat
	}
	s.State = State(st)
	uid, ok := parseDec(f[7])
	if !ok || uid > 0xffffffff {
		return Socket{}, ErrFormat
	}
	s.UID = uint32(uid)
	if s.Inode, ok = parseDec(f[9]); !ok {
		return Socket{}, ErrFormat
	}
	return s, nil
}

func parseAddrPort(b []byte, v6 bool) (netip.AddrPort, bool) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, false
	}
	hexAddr, hexPort := b[:i], b[i+1:]
	port, ok := parseHex(hexPort)
	if !ok || len(hexPort) != 4 {
		return netip.AddrPort{}, false
	}
	var addr netip.Addr
	if v6 {
		if len(hexAddr) != 32 {
			return netip.AddrPort{}, false
		}
		var a [16]byte
		for w := range 4 {
			v, ok := parseHex(hexAddr[w*8 : w*8+8])
			if !ok {
				return netip.AddrPort{}, false
			}
			binary.NativeEndian.PutUint32(a[w*4:], uint32(v))
		}
		addr = netip.AddrFrom16(a).Unmap()
	} else {
		if len(hexAddr) != 8 {
			return netip.AddrPort{}, false
		}
		v, ok := parseHex(hexAddr)
		if !ok {
			return netip.AddrPort{}, false
		}
		var a [4]byte
		binary.NativeEndian.PutUint32(a[:], uint32(v))
		addr = netip.AddrFrom4(a)
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}

func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

func parseDec(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
