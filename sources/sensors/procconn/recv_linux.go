package procconn

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvBatch is how many datagrams one recvmmsg call may return. The
// kernel sends each proc connector event as a datagram of its own (a
// fork+exec+exit is three), so a drain of the socket is one call instead
// of one recvfrom per event and one more for the EAGAIN that ends it.
const recvBatch = 32

// recvBufLen holds any proc connector datagram (the largest event is
// under 100 bytes); a longer one is cut and counted as malformed.
const recvBufLen = 1024

// mmsghdr is struct mmsghdr: the message header and the length the kernel
// received into it (Go pads it as C does).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// batchReader receives a socket's datagrams many at a time into buffers
// it reuses. A raw system call, as the /proc reads at exec (see
// execReader): it does not block, and the real-time thread (when the main
// reader runs on it) keeps its P.
type batchReader struct {
	fd   int
	buf  []byte
	iovs [recvBatch]unix.Iovec
	hdrs [recvBatch]mmsghdr
}

func newBatchReader(fd int) *batchReader {
	r := &batchReader{fd: fd, buf: make([]byte, recvBatch*recvBufLen)}
	for i := range r.hdrs {
		r.iovs[i].Base = &r.buf[i*recvBufLen]
		r.iovs[i].SetLen(recvBufLen)
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.SetIovlen(1)
	}
	return r
}

// read receives up to recvBatch datagrams and returns how many. With
// MSG_DONTWAIT it never blocks (the main reader's drain); with
// MSG_WAITFORONE it blocks for the first and takes the rest only if
// queued. An error (EAGAIN: nothing queued, ENOBUFS: an overrun) comes
// back only when no datagram was received: the kernel keeps one met after
// the first for the next call. So fewer than recvBatch datagrams means the
// call met an error: the socket was empty, or the next call reports it.
func (r *batchReader) read(flags int) (int, unix.Errno) {
	for i := range r.hdrs {
		r.hdrs[i].hdr.Flags = 0
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.hdrs[0])),
		recvBatch, uintptr(flags), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// datagram returns the i-th datagram of the last read, valid until the
// next read, and whether it was cut to fit its buffer.
func (r *batchReader) datagram(i int) (b []byte, cut bool) {
	off := i * recvBufLen
	return r.buf[off : off+int(r.hdrs[i].n)], r.hdrs[i].hdr.Flags&unix.MSG_TRUNC != 0
}
