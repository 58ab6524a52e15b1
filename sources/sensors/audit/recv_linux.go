package audit

import (
	"bytes"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"
)

// recvBatch is how many netlink messages one recvmmsg call may return.
// kauditd sends each record as its own message, so an exec (~7 records
// plus those of its neighbours) fits in one or two calls instead of one
// recvfrom each.
const recvBatch = 32

// mmsghdr is struct mmsghdr: the message header and the length the kernel
// received into it (Go pads it as C does: to the pointer size).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// batchReader receives audit messages many at a time into buffers it
// reuses: nothing is allocated per message.
type batchReader struct {
	fd    int
	bufs  [][]byte
	iovs  []unix.Iovec
	names []unix.RawSockaddrNetlink
	hdrs  []mmsghdr
}

func newBatchReader(fd int) *batchReader {
	r := &batchReader{
		fd:    fd,
		bufs:  make([][]byte, recvBatch),
		iovs:  make([]unix.Iovec, recvBatch),
		names: make([]unix.RawSockaddrNetlink, recvBatch),
		hdrs:  make([]mmsghdr, recvBatch),
	}
	for i := range r.bufs {
		r.bufs[i] = make([]byte, syscall.NLMSG_HDRLEN+libaudit.AuditMessageMaxLength)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(len(r.bufs[i]))
		r.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.SetIovlen(1)
	}
	return r
}

// read receives without blocking what the socket holds, up to recvBatch
// messages, and returns how many. An error (EAGAIN when nothing waits,
// ENOBUFS after an overrun) comes back only when no message was received:
// the kernel keeps an error met after the first message for the next call.
func (r *batchReader) read() (int, error) {
	for i := range r.hdrs {
		r.hdrs[i].hdr.Namelen = unix.SizeofSockaddrNetlink
		r.hdrs[i].n = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// message returns the type and payload of the i-th message of the last
// read; the payload is only valid until the next read. Like go-libaudit's
// parser it takes everything after the netlink header as the payload.
func (r *batchReader) message(i int) (typ uint16, data []byte, err error) {
	n := int(r.hdrs[i].n)
	if n < syscall.NLMSG_HDRLEN {
		return 0, nil, fmt.Errorf("short netlink message (%d bytes)", n)
	}
	if r.names[i].Family != unix.AF_NETLINK || r.names[i].Pid != 0 {
		return 0, nil, errors.New("netlink message not from the kernel")
	}
	b := r.bufs[i][:n]
	return nativeEndian.Uint16(b[4:6]), b[syscall.NLMSG_HDRLEN:], nil
}

// arena holds the copies of received records: one allocation per
// arenaChunk of records instead of one per record. A chunk stays alive
// while any record copied into it is.
type arena struct {
	buf []byte
}

const arenaChunk = 64 << 10

// copyRecord returns a copy of a record's text without its trailing NULs
// and newline, capped so that appending to it cannot reach the next copy.
func (a *arena) copyRecord(data []byte) []byte {
	data = bytes.TrimRight(data, "\x00\n")
	if cap(a.buf)-len(a.buf) < len(data) {
		a.buf = make([]byte, 0, max(arenaChunk, len(data)))
	}
	off := len(a.buf)
	a.buf = append(a.buf, data...)
	return a.buf[off:len(a.buf):len(a.buf)]
}
