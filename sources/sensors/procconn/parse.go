package procconn

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// What is proc_event.what (enum proc_cn_event).
type What uint32

// Values of proc_event.what from linux/cn_proc.h.
const (
	WhatNone        What = 0x00000000 // also the ack of a subscription
	WhatFork        What = 0x00000001
	WhatExec        What = 0x00000002
	WhatUID         What = 0x00000004
	WhatGID         What = 0x00000040
	WhatSID         What = 0x00000080
	WhatPtrace      What = 0x00000100
	WhatComm        What = 0x00000200
	WhatNonzeroExit What = 0x20000000
	WhatCoredump    What = 0x40000000
	WhatExit        What = 0x80000000
)

func (w What) String() string {
	switch w {
	case WhatNone:
		return "none"
	case WhatFork:
		return "fork"
	case WhatExec:
		return "exec"
	case WhatUID:
		return "uid"
	case WhatGID:
		return "gid"
	case WhatSID:
		return "sid"
	case WhatPtrace:
		return "ptrace"
	case WhatComm:
		return "comm"
	case WhatNonzeroExit:
		return "nonzero_exit"
	case WhatCoredump:
		return "coredump"
	case WhatExit:
		return "exit"
	}
	return fmt.Sprintf("what(%#x)", uint32(w))
}

// Connector ids of the proc connector (linux/connector.h).
const (
	cnIdxProc = 1
	cnValProc = 1
)

// Subscription operations (enum proc_cn_mcast_op).
const (
	mcastListen = 1
	mcastIgnore = 2
)

// Sizes of the kernel structures.
const (
	nlmsgHdrLen    = 16 // struct nlmsghdr
	cnMsgLen       = 20 // struct cn_msg: id.idx, id.val, seq, ack, len(u16), flags(u16)
	procHeaderLen  = 16 // proc_event: what, cpu, timestamp_ns
	procPayloadMax = 24 // largest union member: exit (6 x u32) and comm (2 x u32 + 16)
)

// Parse errors.
var (
	ErrShort     = errors.New("proc connector message too short")
	ErrNotProcCN = errors.New("not a proc connector message")
)

// procEvent is one decoded struct proc_event. The union members are mapped
// onto shared fields so that the struct stays flat and is returned by value
// without allocating.
type procEvent struct {
	// Seq is cn_msg.seq: a per-CPU counter of sent proc events, so a gap on
	// one CPU is a count of events this socket missed.
	Seq uint32
	// Ack is cn_msg.ack: in a subscription's acknowledgement, the ack of
	// the request plus one.
	Ack         uint32
	What        What
	CPU         uint32
	TimestampNS uint64 // ktime_get_ns: CLOCK_MONOTONIC nanoseconds

	// PID and TGID are the subject: fork child, exec/exit/comm/id/sid/
	// ptrace/coredump process.
	PID, TGID int32
	// ParentPID and ParentTGID: fork parent, exit and coredump parent.
	ParentPID, ParentTGID int32
	// ID1 and ID2 are ruid/euid for WhatUID, rgid/egid for WhatGID.
	ID1, ID2 uint32
	// ExitCode is the wait status (exit code << 8 | signal), ExitSignal the
	// signal sent to the parent.
	ExitCode, ExitSignal uint32
	// TracerPID and TracerTGID for WhatPtrace.
	TracerPID, TracerTGID int32
	Comm                  [16]byte
	// AckErr is the error of a subscription acknowledgement (WhatNone).
	AckErr uint32
}

// CommString returns Comm up to its NUL.
func (p *procEvent) CommString() string {
	for i, c := range p.Comm {
		if c == 0 {
			return string(p.Comm[:i])
		}
	}
	return string(p.Comm[:])
}

// parseProcEvent decodes the payload of one connector netlink message (the
// bytes after the nlmsghdr: struct cn_msg followed by struct proc_event) in
// native byte order. It does not allocate.
func parseProcEvent(b []byte) (procEvent, error) {
	var p procEvent
	if len(b) < cnMsgLen {
		return p, fmt.Errorf("cn_msg header: %w", ErrShort)
	}
	ne := binary.NativeEndian
	if ne.Uint32(b[0:4]) != cnIdxProc || ne.Uint32(b[4:8]) != cnValProc {
		return p, ErrNotProcCN
	}
	p.Seq = ne.Uint32(b[8:12])
	p.Ack = ne.Uint32(b[12:16])
	n := int(ne.Uint16(b[16:18]))
	data := b[cnMsgLen:]
	if n > len(data) {
		return p, fmt.Errorf("cn_msg len %d with %d bytes: %w", n, len(data), ErrShort)
	}
	data = data[:n]
	if len(data) < procHeaderLen {
		return p, fmt.Errorf("proc_event header: %w", ErrShort)
	}
	p.What = What(ne.Uint32(data[0:4]))
	p.CPU = ne.Uint32(data[4:8])
	p.TimestampNS = ne.Uint64(data[8:16])
	u := data[procHeaderLen:]
	need := 0
	switch p.What {
	case WhatNone:
		need = 4
	case WhatFork, WhatExit, WhatPtrace, WhatCoredump, WhatUID, WhatGID:
		need = 16
		if p.What == WhatExit {
			need = 24
		}
	case WhatExec, WhatSID:
		need = 8
	case WhatComm:
		need = 24
	default:
		// Unknown kinds (new kernels) keep the header; the caller counts them.
		return p, nil
	}
	if len(u) < need {
		return p, fmt.Errorf("proc_event %s body: %w", p.What, ErrShort)
	}
	i32 := func(off int) int32 { return int32(ne.Uint32(u[off : off+4])) }
	switch p.What {
	case WhatNone:
		p.AckErr = ne.Uint32(u[0:4])
	case WhatFork:
		p.ParentPID, p.ParentTGID = i32(0), i32(4)
		p.PID, p.TGID = i32(8), i32(12)
	case WhatExec, WhatSID:
		p.PID, p.TGID = i32(0), i32(4)
	case WhatUID, WhatGID:
		p.PID, p.TGID = i32(0), i32(4)
		p.ID1, p.ID2 = ne.Uint32(u[8:12]), ne.Uint32(u[12:16])
	case WhatPtrace:
		p.PID, p.TGID = i32(0), i32(4)
		p.TracerPID, p.TracerTGID = i32(8), i32(12)
	case WhatComm:
		p.PID, p.TGID = i32(0), i32(4)
		copy(p.Comm[:], u[8:24])
	case WhatCoredump:
		p.PID, p.TGID = i32(0), i32(4)
		p.ParentPID, p.ParentTGID = i32(8), i32(12)
	case WhatExit:
		p.PID, p.TGID = i32(0), i32(4)
		p.ExitCode, p.ExitSignal = ne.Uint32(u[8:12]), ne.Uint32(u[12:16])
		p.ParentPID, p.ParentTGID = i32(16), i32(20)
	}
	return p, nil
}

// subscribeMsg builds the cn_msg that (un)subscribes from process events.
func subscribeMsg(op uint32) []byte {
	b := make([]byte, cnMsgLen+4)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:4], cnIdxProc)
	ne.PutUint32(b[4:8], cnValProc)
	ne.PutUint16(b[16:18], 4)
	ne.PutUint32(b[20:24], op)
	return b
}

// whatAll is PROC_EVENT_ALL: every kind a per-socket filter can select.
const whatAll = WhatFork | WhatExec | WhatUID | WhatGID | WhatSID | WhatPtrace | WhatComm |
	WhatNonzeroExit | WhatCoredump | WhatExit

// filterMsg builds the cn_msg that subscribes with a per-socket event
// filter (struct proc_input: the operation, then the kinds wanted, Linux
// 6.6 and later); ack numbers the request. Older kernels take only the
// 4-byte form and ignore this one without an answer.
func filterMsg(op uint32, kinds What, ack uint32) []byte {
	b := make([]byte, cnMsgLen+8)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:4], cnIdxProc)
	ne.PutUint32(b[4:8], cnValProc)
	ne.PutUint32(b[12:16], ack)
	ne.PutUint16(b[16:18], 8)
	ne.PutUint32(b[20:24], op)
	ne.PutUint32(b[24:28], uint32(kinds))
	return b
}

// isAckOf reports whether p acknowledges the request numbered ack, and
// with which error. (The kernel numbers the acknowledgement's seq itself,
// so only its ack field names the request.)
func isAckOf(p *procEvent, ack uint32) (ok bool, errno uint32) {
	return p.What == WhatNone && p.Ack == ack+1, p.AckErr
}

// whatOffset is where a datagram's proc_event.what is: after the
// nlmsghdr and the cn_msg.
const whatOffset = nlmsgHdrLen + cnMsgLen

// hostExecMarkLen is what the main socket keeps of an exec in the host's
// mount namespace when the host exec filter is on it (hostexec_linux.go):
// the headers and the exec's pid and tgid, short of the whole message
// (sizeof(struct proc_event) is that of its largest member).
const hostExecMarkLen = whatOffset + procHeaderLen + 8

// unmarkHostExec reports whether the datagram b is an exec the host exec
// filter cut to hostExecMarkLen (its netlink header still counts the
// whole message), and if so sets the headers' lengths to what is left, so
// that it parses as an exec.
func unmarkHostExec(b []byte) bool {
	ne := binary.NativeEndian
	if len(b) != hostExecMarkLen || int(ne.Uint32(b[0:4])) <= len(b) ||
		What(ne.Uint32(b[whatOffset:])) != WhatExec {
		return false
	}
	ne.PutUint32(b[0:4], hostExecMarkLen)
	ne.PutUint16(b[nlmsgHdrLen+16:], procHeaderLen+8)
	return true
}

// eachMessage calls fn with the payload of every netlink message in one
// received datagram (struct nlmsghdr, then the payload, 4-byte aligned),
// and bad once for a header whose length does not fit.
func eachMessage(b []byte, fn func(payload []byte), bad func()) {
	const hdrLen = nlmsgHdrLen
	ne := binary.NativeEndian
	for len(b) >= hdrLen {
		l := int(ne.Uint32(b[0:4]))
		if l < hdrLen || l > len(b) {
			bad()
			return
		}
		fn(b[hdrLen:l])
		l = (l + 3) &^ 3
		if l > len(b) {
			return
		}
		b = b[l:]
	}
}
