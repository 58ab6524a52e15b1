package procconn

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/ruled/ruled/sources/enrichers/procfs"
)

// A capture record is what the host exec filter's capturing program
// (capture_linux.go) writes to its ring buffer for an exec in the host's
// mount namespace: what an exec reader would have read of it from /proc,
// taken from the exec'ing task in the kernel. Fixed layout, native byte
// order, written field by field by the program:
//
//	u64 timestamp, u32 tgid (the proc connector message's; execKey)
//	u32 session id (stat's sid: the init pid namespace's number)
//	u64 controlling terminal (a kernel pointer: only 0 or not matters)
//	u64 argv length, u64 levels walked
//	16 bytes comm
//	capLevels bytes: per level, the length of its name with the NUL, or
//	  0 for a level that crossed from a mount to its mount point
//	capLevels × capNameSlot bytes: the names, the executable's first
//	argv: /proc/PID/cmdline's bytes
//
// The program writes only whole records: a path deeper than capLevels, a
// name longer than a slot or an argv longer than capArgsMax it leaves to an
// exec reader.
const (
	capLevels   = 24
	capNameSlot = 64
	// capArgsMax matches an exec reader, which keeps a cmdline shorter
	// than its 4096-byte read and leaves a longer one to the table.
	capArgsMax = 4095

	capOffTS     = 0
	capOffPID    = 8
	capOffSID    = 12
	capOffTTY    = 16
	capOffArgLen = 24
	capOffLevels = 32
	capOffComm   = 40
	capOffLens   = 56
	capOffNames  = capOffLens + capLevels
	capOffArgs   = capOffNames + capLevels*capNameSlot
	// capValueSize is the program's scratch: a record with the longest
	// argv it writes.
	capValueSize = capOffArgs + capArgsMax + 1
)

// parseCapture decodes one capture record into the key of its exec and
// what its event gets; host is the host's mount namespace (the program
// writes records of its execs only).
func parseCapture(b []byte, host uint64) (execKey, execInfo, error) {
	ne := binary.NativeEndian
	if len(b) < capOffArgs {
		return execKey{}, execInfo{}, fmt.Errorf("capture record of %d bytes, want at least %d", len(b), capOffArgs)
	}
	k := execKey{ts: ne.Uint64(b[capOffTS:]), pid: int32(ne.Uint32(b[capOffPID:]))}
	argLen, levels := ne.Uint64(b[capOffArgLen:]), ne.Uint64(b[capOffLevels:])
	if argLen > capArgsMax || uint64(len(b)) != capOffArgs+argLen {
		return k, execInfo{}, fmt.Errorf("capture record of pid %d: %d bytes with an argv of %d", k.pid, len(b), argLen)
	}
	if levels > capLevels {
		return k, execInfo{}, fmt.Errorf("capture record of pid %d: %d levels, at most %d", k.pid, levels, capLevels)
	}
	// The names go from the executable up: the path is them reversed.
	var path strings.Builder
	for i := int(levels) - 1; i >= 0; i-- {
		n := int(b[capOffLens+i])
		if n == 0 {
			continue // a mount crossed
		}
		slot := b[capOffNames+i*capNameSlot : capOffNames+(i+1)*capNameSlot]
		if n > capNameSlot || slot[n-1] != 0 {
			return k, execInfo{}, fmt.Errorf("capture record of pid %d: level %d: name of %d bytes not NUL-ended", k.pid, i, n)
		}
		path.WriteByte('/')
		path.Write(slot[:n-1])
	}
	comm := b[capOffComm : capOffComm+16]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	in := execInfo{
		exe:      path.String(),
		name:     string(comm),
		sid:      int(ne.Uint32(b[capOffSID:])),
		tty:      ne.Uint64(b[capOffTTY:]) != 0,
		readExec: true,
		mnt:      host,
	}
	in.complete = in.exe != "" && in.name != ""
	if argLen > 0 {
		in.args = procfs.ParseCmdline(b[capOffArgs:])
	}
	return k, in, nil
}

// rootIsMountRoot says whether a process whose /proc/PID/mountinfo is mi
// has a whole mount for its root: a line mounted on "/" with "/" for the
// root inside its file system. A root chrooted into a directory has no
// line on "/" (its mount is unreachable from it, and not listed), and one
// on a bind of a directory has that directory as the line's root.
func rootIsMountRoot(mi []byte) bool {
	for line := range bytes.Lines(mi) {
		f := bytes.Fields(line)
		if len(f) > 4 && string(f[3]) == "/" && string(f[4]) == "/" {
			return true
		}
	}
	return false
}
