package audit

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"path"
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/ruled/ruled/sources/event"
)

// Audit architecture identifiers (AUDIT_ARCH_* in linux/audit.h).
const (
	archX8664 = 0xc000003e
	archI386  = 0x40000003
)

var (
	syscallsX8664 = auparse.AuditSyscalls["x86_64"]
	syscallsI386  = auparse.AuditSyscalls["i386"]
)

// kinds maps raw syscall names to evt.type. A syscall missing here (a custom
// audit rule for chown, say) keeps its raw name as evt.type, so such rules
// still produce events a condition can match.
var kinds = event.SyscallTypes

// Open flags (asm-generic/fcntl.h) that make an open a write.
const (
	oWronly = 0o1
	oRdwr   = 0o2
	oCreat  = 0o100
	oTrunc  = 0o1000
)

// atFDCWD is AT_FDCWD (-100) as audit prints a syscall argument: unsigned
// hex of the register, 32 or 64 bits wide.
func isATFDCWD(v uint64) bool { return v == 0xffffff9c || v == 0xffffffffffffff9c }

// maxProctitle is the kernel's limit on PROCTITLE (MAX_PROCTITLE_AUDIT_LEN):
// a shorter title is the whole argv.
const maxProctitle = 128

type pathItem struct {
	name     string
	nametype []byte
}

// Normalize turns the records of one syscall event into an Event. It reads
// only what audit itself says (enrichers add the rest) and returns nil for a
// group without a SYSCALL record. source is evt.source (audit or replay).
func Normalize(records []Record, source string) *event.Event {
	var sys []byte
	var t0 = -1
	for i := range records {
		if records[i].Type == TypeSyscall {
			sys = records[i].Data
			t0 = i
			break
		}
	}
	if t0 < 0 {
		return nil
	}
	ts, _, body, err := Header(sys)
	if err != nil {
		return nil
	}
	ev := event.New()
	ev.Evt.Time = ts
	ev.Evt.Source = source

	var arch uint64
	var args [4]uint64
	var sysnum int64 = -1
	for k, v, rest := nextField(body); k != nil; k, v, rest = nextField(rest) {
		switch string(k) {
		case "arch":
			arch, _ = hexUint(v)
		case "syscall":
			sysnum, _ = decInt(v)
		case "success":
			ev.Evt.Success = string(v) == "yes"
		case "exit":
			if n, ok := decInt(v); ok {
				ev.Evt.Res = int(n)
			}
		case "a0", "a1", "a2", "a3":
			args[k[1]-'0'], _ = hexUint(v)
		case "ppid":
			ev.Proc.PPID = decField(v)
		case "pid":
			ev.Proc.PID = decField(v)
		case "auid":
			ev.Proc.AUID = decField(v)
		case "uid":
			ev.Proc.UID = decField(v)
		case "gid":
			ev.Proc.GID = decField(v)
		case "euid":
			ev.Proc.EUID = decField(v)
		case "tty":
			ev.Proc.TTY = len(v) > 0 && string(v) != "(none)"
		case "comm":
			ev.Proc.Name = decodeValue(v)
		case "exe":
			ev.Proc.Exe = decodeValue(v)
		case "key":
			if k := decodeValue(v); k != "" {
				ev.Evt.Keys = strings.Split(k, "\x01")
			}
		}
	}
	var name string
	switch arch {
	case archX8664:
		name = syscallsX8664[int(sysnum)]
	case archI386:
		name = syscallsI386[int(sysnum)]
	}
	ev.Evt.Syscall = name
	if kind, ok := kinds[name]; ok {
		ev.Evt.Type = kind
	} else {
		ev.Evt.Type = name
	}

	var paths [8]pathItem
	items := paths[:0]
	var proctitle []byte
	var execs [][]byte
	var sockaddr []byte
	for i := range records {
		r := &records[i]
		_, _, b, err := Header(r.Data)
		if err != nil {
			continue
		}
		switch r.Type {
		case TypeCwd:
			if k, v, _ := nextField(b); string(k) == "cwd" {
				ev.Proc.Cwd = decodeValue(v)
			}
		case TypePath:
			var it pathItem
			for k, v, rest := nextField(b); k != nil; k, v, rest = nextField(rest) {
				switch string(k) {
				case "name":
					it.name = decodeValue(v)
				case "nametype":
					it.nametype = v
				}
			}
			items = append(items, it)
		case TypeExecve:
			execs = append(execs, b)
		case TypeSockaddr:
			if k, v, _ := nextField(b); string(k) == "saddr" {
				sockaddr = v
			}
		case TypeProctitle:
			if k, v, _ := nextField(b); string(k) == "proctitle" {
				proctitle = v
			}
		}
	}

	if len(execs) > 0 {
		ev.Proc.Args = execveArgs(execs)
	} else if len(proctitle) > 0 {
		if t := decodeValue(proctitle); t != "" && len(t) < maxProctitle {
			ev.Proc.Args = strings.Split(strings.TrimRight(t, "\x00"), "\x00")
		}
	}
	if len(ev.Proc.Args) > 0 {
		ev.Proc.Cmdline = strings.Join(ev.Proc.Args, " ")
	}

	switch ev.Evt.Type {
	case event.TypeOpen:
		it := pick(items, "CREATE", "NORMAL")
		ev.File.Path = resolve(ev.Proc.Cwd, it.name, name != "openat" && name != "openat2" || isATFDCWD(args[0]))
		if strings.HasPrefix(ev.File.Path, "/") {
			// /etc/../etc/shadow is /etc/shadow to rules; the name as the
			// process wrote it (directory traversal) stays in file.raw.
			if c := path.Clean(ev.File.Path); c != ev.File.Path {
				ev.File.Path = c
			}
		}
		if it.name != ev.File.Path {
			ev.File.Raw = it.name
		}
		var flags uint64
		switch name {
		case "open":
			flags = args[1]
		case "openat":
			flags = args[2]
		case "creat":
			flags = oCreat | oWronly | oTrunc
		}
		ev.File.Write = flags&(oWronly|oRdwr|oCreat|oTrunc) != 0 || string(it.nametype) == "CREATE"
		if name != "openat2" { // its flags are in a struct audit does not log
			ev.Arg.Flags = event.OpenFlags(uint32(flags))
		}
		if flags&oCreat != 0 {
			// The mode a created file gets (before the umask).
			switch name {
			case "open":
				ev.Arg.Mode = event.ModeBits(uint32(args[2]))
			case "openat":
				ev.Arg.Mode = event.ModeBits(uint32(args[3]))
			}
		}
	case event.TypeRename:
		old := pick(items, "DELETE", "NORMAL")
		ev.File.Path = resolve(ev.Proc.Cwd, old.name, name == "rename" || isATFDCWD(args[0]))
		if nw := pick(items, "CREATE"); string(nw.nametype) == "CREATE" {
			ev.File.Target = resolve(ev.Proc.Cwd, nw.name, name == "rename" || isATFDCWD(args[2]))
		}
	case event.TypeUnlink:
		it := pick(items, "DELETE", "NORMAL")
		ev.File.Path = resolve(ev.Proc.Cwd, it.name, name != "unlinkat" || isATFDCWD(args[0]))
	case event.TypeLink:
		old := pick(items, "NORMAL")
		ev.File.Path = resolve(ev.Proc.Cwd, old.name, name == "link" || isATFDCWD(args[0]))
		if nw := pick(items, "CREATE"); string(nw.nametype) == "CREATE" {
			ev.File.Target = resolve(ev.Proc.Cwd, nw.name, name == "link" || isATFDCWD(args[2]))
		}
	case event.TypeSymlink:
		// The link's content is a name the kernel never looks up: audit
		// logs it as an UNKNOWN item, kept as written (a relative target
		// is relative to the link, not to the working directory).
		if tg := pick(items, "UNKNOWN"); string(tg.nametype) == "UNKNOWN" {
			ev.File.Path = tg.name
		}
		if nw := pick(items, "CREATE"); string(nw.nametype) == "CREATE" {
			ev.File.Target = resolve(ev.Proc.Cwd, nw.name, name == "symlink" || isATFDCWD(args[1]))
		}
	case event.TypeExecve:
		// proc.exe comes from SYSCALL; PATH items are the binary and the
		// dynamic loader, nothing more.
	default:
		if len(items) > 0 {
			it := pick(items, "NORMAL", "CREATE", "DELETE")
			atCall := strings.HasSuffix(name, "at")
			ev.File.Path = resolve(ev.Proc.Cwd, it.name, !atCall || isATFDCWD(args[0]))
		}
	}

	setArgs(&ev.Arg, name, args)
	// A connect that returned 0 connected its socket (EINPROGRESS has not
	// yet); accept's result is a connected socket.
	ev.FD.Connected = ev.Evt.Success && (ev.Evt.Type == event.TypeConnect || ev.Evt.Type == event.TypeAccept)

	if len(sockaddr) > 0 {
		setSockaddr(&ev.FD, sockaddr, ev.Evt.Type == event.TypeConnect || ev.Evt.Type == event.TypeAccept || name == "sendto" || name == "sendmsg")
	}
	return ev
}

// setArgs names the syscall arguments rules ask about (evt.arg.* in Falco).
// Registers are unsigned: ids and descriptors are 32-bit, so they are cut to
// 32 bits and an id of -1 ("unchanged") stays -1.
func setArgs(a *event.Arg, syscall string, args [4]uint64) {
	switch syscall {
	case "chmod", "fchmod":
		a.Mode = event.ModeBits(uint32(args[1]))
	case "fchmodat", "fchmodat2":
		a.Mode = event.ModeBits(uint32(args[2]))
	case "ptrace":
		a.Request = int(int32(uint32(args[0])))
		a.PID = int(int32(uint32(args[1])))
	case "socket":
		a.Domain = int(uint32(args[0]))
		a.Type = int(args[1] & 0xf) // SOCK_TYPE_MASK: without NONBLOCK/CLOEXEC
	case "setuid", "setreuid", "setresuid", "setgid", "setregid", "setresgid":
		a.UID = int(int32(uint32(args[0])))
	case "dup2", "dup3":
		a.FD = int(int32(uint32(args[1])))
	case "bpf":
		a.Request = int(uint32(args[0])) // the bpf command
	}
}

func decField(v []byte) int {
	n, _ := decInt(v)
	return int(n)
}

// pick returns the first PATH item of the first preferred nametype, else the
// first item that is not a PARENT directory, else the first item.
func pick(items []pathItem, prefer ...string) pathItem {
	for _, p := range prefer {
		for _, it := range items {
			if string(it.nametype) == p {
				return it
			}
		}
	}
	for _, it := range items {
		if string(it.nametype) != "PARENT" {
			return it
		}
	}
	if len(items) > 0 {
		return items[0]
	}
	return pathItem{}
}

// resolve makes name absolute against cwd when it is relative to the
// working directory (relCwd); a name relative to another directory fd stays
// as audit wrote it, since that directory is unknown.
func resolve(cwd, name string, relCwd bool) string {
	if name == "" || name[0] == '/' || !relCwd || cwd == "" {
		return name
	}
	return path.Join(cwd, name)
}

// execveArgs rebuilds argv from EXECVE records: argc=N a0=.. a1=.., where a
// long argument is split as aN_len=LEN aN[0]=.. aN[1]=.., possibly over
// several records.
func execveArgs(recs [][]byte) []string {
	var args []string
	var sb strings.Builder
	split := -1
	flush := func() {
		if split >= 0 && split < len(args) {
			args[split] = sb.String()
		}
		sb.Reset()
		split = -1
	}
	for _, b := range recs {
		for k, v, rest := nextField(b); k != nil; k, v, rest = nextField(rest) {
			if string(k) == "argc" {
				if n, ok := atou(v); ok && n < 1<<16 {
					args = make([]string, n)
				}
				continue
			}
			if len(k) < 2 || k[0] != 'a' {
				continue
			}
			num := k[1:]
			chunk := false
			if i := bytes.IndexAny(num, "_["); i >= 0 {
				if num[i] == '_' { // aN_len announces the split
					continue
				}
				chunk = true
				num = num[:i]
			}
			n, ok := atou(num)
			if !ok || n >= uint64(len(args)) {
				continue
			}
			if chunk {
				if split != int(n) {
					flush()
					split = int(n)
				}
				sb.WriteString(decodeValue(v))
				continue
			}
			flush()
			args[n] = decodeValue(v)
		}
	}
	flush()
	return args
}

// setSockaddr decodes a SOCKADDR record's saddr (the raw struct sockaddr in
// hex, host byte order family). remote says whether the address is the peer
// (connect, accept, sendto) or the local end (bind).
func setSockaddr(fd *event.FD, hexaddr []byte, remote bool) {
	raw := make([]byte, 0, 128)
	if len(hexaddr)%2 != 0 || len(hexaddr) > 2*256 {
		return
	}
	for i := 0; i+1 < len(hexaddr); i += 2 {
		hi, ok1 := unhex(hexaddr[i])
		lo, ok2 := unhex(hexaddr[i+1])
		if !ok1 || !ok2 {
			return
		}
		raw = append(raw, hi<<4|lo)
	}
	if len(raw) < 2 {
		return
	}
	family := binary.LittleEndian.Uint16(raw)
	var ip netip.Addr
	var port int
	switch family {
	case 1: // AF_UNIX
		p := raw[2:]
		if len(p) > 0 && p[0] == 0 {
			p = bytes.TrimRight(p[1:], "\x00")
			fd.Type, fd.Name = event.FDUnix, "@"+string(p)
			return
		}
		if i := bytes.IndexByte(p, 0); i >= 0 {
			p = p[:i]
		}
		fd.Type, fd.Name = event.FDUnix, string(p)
		return
	case 2: // AF_INET
		if len(raw) < 8 {
			return
		}
		port = int(binary.BigEndian.Uint16(raw[2:]))
		ip = netip.AddrFrom4([4]byte(raw[4:8]))
		fd.Type = event.FDIPv4
	case 10: // AF_INET6
		if len(raw) < 24 {
			return
		}
		port = int(binary.BigEndian.Uint16(raw[2:]))
		ip = netip.AddrFrom16([16]byte(raw[8:24]))
		fd.Type = event.FDIPv6
	default:
		return
	}
	if remote {
		fd.RIP, fd.RPort = ip.String(), port
	} else {
		fd.SIP, fd.SPort = ip.String(), port
	}
}
