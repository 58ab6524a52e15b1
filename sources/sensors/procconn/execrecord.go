package procconn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/sources/event"
)

// An exec record is what an exec reader read of one exec while the
// process lived, as the bytes /proc gave (the main reader decodes them,
// execRecord.info): an exec reader in a process of its own (execproc)
// then allocates nothing per exec and needs no garbage collector, and
// one in this process goes through the same encoding. The kind byte
// leaves room for other records. Layout, native
// byte order:
//
//	u32 length of what follows
//	u8  kind (recordExec)
//	i32 pid, u64 timestamp (the proc connector message's; execKey)
//	u8  flags (flagReadExec, flagCgroup), u64 mount namespace inode
//	exe, stat, cmdline, cgroup: each u16 length or absent (0xFFFF), bytes
//	3 × (u8 fdClosed/fdLink/0, and for fdLink the link's target as above)
const (
	recordExec = 1

	flagReadExec = 1 << 0 // exe, stat and cmdline were asked for
	flagCgroup   = 1 << 1 // the cgroup (and fds 0-2) were read

	fdLink   = 1 // the descriptor's link target follows
	fdClosed = 2 // ENOENT: the descriptor is closed

	absent      = 0xFFFF
	recordHead  = 4 + 1 + 4 + 8
	maxPieceLen = absent - 1
)

// execRecord is a decoded record; its byte slices point into the buffer
// it was decoded from. A nil piece was not read (or the process was gone).
type execRecord struct {
	kind                     byte
	key                      execKey
	flags                    byte
	mnt                      uint64
	exe, stat, cmdline, cgrp []byte
	fdState                  [3]byte
	fdTarget                 [3][]byte
}

// recordBuilder appends one exec record to a buffer as its pieces are
// read: begin, then the pieces in order, then end.
type recordBuilder struct {
	b     []byte
	start int
}

func (w *recordBuilder) begin(k execKey) {
	ne := binary.NativeEndian
	w.start = len(w.b)
	w.b = ne.AppendUint32(w.b, 0) // the length, set by end
	w.b = append(w.b, recordExec)
	w.b = ne.AppendUint32(w.b, uint32(k.pid))
	w.b = ne.AppendUint64(w.b, k.ts)
	w.b = append(w.b, make([]byte, 9)...) // flags and namespace, set by end
}

// end closes the record begun last; flags and mnt go in its head (they
// are known only once the pieces are read).
func (w *recordBuilder) end(flags byte, mnt uint64) {
	ne := binary.NativeEndian
	ne.PutUint32(w.b[w.start:], uint32(len(w.b)-w.start-4))
	w.b[w.start+recordHead] = flags
	ne.PutUint64(w.b[w.start+recordHead+1:], mnt)
}

// piece appends p, or marks it absent when nil. A piece longer than a u16
// can say is cut; no /proc read here returns one (4 KiB reads).
func (w *recordBuilder) piece(p []byte) {
	if p == nil {
		w.b = binary.NativeEndian.AppendUint16(w.b, absent)
		return
	}
	if len(p) > maxPieceLen {
		p = p[:maxPieceLen]
	}
	w.b = binary.NativeEndian.AppendUint16(w.b, uint16(len(p)))
	w.b = append(w.b, p...)
}

func (w *recordBuilder) fd(state byte, target []byte) {
	w.b = append(w.b, state)
	if state == fdLink {
		w.piece(target)
	}
}

var errShortRecord = errors.New("short exec record")

// nextRecord decodes the first record of b and returns it with the
// number of bytes it took; 0 and no error when b holds only part of one
// (more is to come).
func nextRecord(b []byte) (execRecord, int, error) {
	var r execRecord
	ne := binary.NativeEndian
	if len(b) < 4 {
		return r, 0, nil
	}
	n := int(ne.Uint32(b))
	if n < recordHead-4 || n > 1<<20 {
		return r, 0, fmt.Errorf("exec record of %d bytes", n)
	}
	if len(b) < 4+n {
		return r, 0, nil
	}
	d := b[4 : 4+n]
	r.kind = d[0]
	r.key = execKey{pid: int32(ne.Uint32(d[1:])), ts: ne.Uint64(d[5:])}
	d = d[13:]
	if r.kind != recordExec {
		return r, 0, fmt.Errorf("exec record of kind %d", r.kind)
	}
	if len(d) < 9 {
		return r, 0, errShortRecord
	}
	r.flags, r.mnt = d[0], ne.Uint64(d[1:])
	d = d[9:]
	var err error
	for _, p := range []*[]byte{&r.exe, &r.stat, &r.cmdline, &r.cgrp} {
		if *p, d, err = takePiece(d); err != nil {
			return r, 0, err
		}
	}
	for i := range r.fdState {
		if len(d) < 1 {
			return r, 0, errShortRecord
		}
		r.fdState[i], d = d[0], d[1:]
		if r.fdState[i] == fdLink {
			if r.fdTarget[i], d, err = takePiece(d); err != nil {
				return r, 0, err
			}
		}
	}
	if len(d) != 0 {
		return r, 0, fmt.Errorf("exec record: %d bytes left over", len(d))
	}
	return r, 4 + n, nil
}

func takePiece(d []byte) (p, rest []byte, err error) {
	if len(d) < 2 {
		return nil, nil, errShortRecord
	}
	n := int(binary.NativeEndian.Uint16(d))
	d = d[2:]
	if n == absent {
		return nil, d, nil
	}
	if len(d) < n {
		return nil, nil, errShortRecord
	}
	return d[:n:n], d[n:], nil
}

// info turns a record into what the event of its exec gets; containerOf
// (Config.ContainerOf) names the container of a cgroup read.
func (r *execRecord) info(containerOf func([]byte) string) execInfo {
	var in execInfo
	in.mnt = r.mnt
	if r.flags&flagReadExec != 0 {
		in.readExec = true
		if len(r.exe) > 0 {
			// A deleted executable reads "/path (deleted)"; rules match
			// the path (as procfs.Reader does).
			in.exe = string(bytes.TrimSuffix(r.exe, []byte(" (deleted)")))
		}
		if len(r.stat) > 0 {
			if st, err := procfs.ParseStatBytes(r.stat); err == nil {
				in.name, in.sid, in.tty = st.Comm, st.SID, st.TTYNr != 0
			}
		}
		in.complete = in.exe != "" && in.name != ""
		if len(r.cmdline) > 0 {
			in.args = procfs.ParseCmdline(r.cmdline)
		}
	}
	if r.flags&flagCgroup != 0 && containerOf != nil {
		in.cid, in.hasCID = containerOf(r.cgrp), true
		// A container's process: its standard descriptors as they are
		// at the exec, before the new program can move a socket onto
		// them (busybox nc -e dup2s its connection onto 0 and 1 and
		// execs the shell); the table's read comes a pipeline later and
		// would show the program's own dup2 in its exec.
		none := 0
		for i, st := range r.fdState {
			switch st {
			case fdLink:
				in.stdio[i] = procfs.ClassifyFD(string(r.fdTarget[i]))
			case fdClosed:
				in.stdio[i] = procfs.Stdio{Type: event.StdioNone}
				none++
			}
		}
		if none == 3 {
			// All three missing: more likely the process is gone than
			// that it closed them all.
			in.stdio = [3]procfs.Stdio{}
		}
	}
	return in
}
