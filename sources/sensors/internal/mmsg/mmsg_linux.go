// Package mmsg receives a netlink socket's datagrams many at a time
// (recvmmsg(2)) into buffers it reuses: nothing is allocated per datagram.
// The audit and proc connector sensors drain their sockets with it: the
// kernel sends each audit record and each proc connector event as a
// datagram of its own, so one call replaces one recvfrom per datagram and
// the one more that finds the socket empty.
package mmsg

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr: the message header and the length the kernel
// received into it (Go pads it as C does: to the pointer size).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// Reader receives up to a batch of datagrams per call, each into a buffer
// of its own.
type Reader struct {
	fd     int
	bufLen int
	buf    []byte
	iovs   []unix.Iovec
	names  []unix.RawSockaddrNetlink
	hdrs   []mmsghdr
}

// New returns a Reader of fd that takes up to batch datagrams per call,
// each of at most bufLen bytes (a longer one is cut: see Datagram).
func New(fd, batch, bufLen int) *Reader {
	r := &Reader{
		fd:     fd,
		bufLen: bufLen,
		buf:    make([]byte, batch*bufLen),
		iovs:   make([]unix.Iovec, batch),
		names:  make([]unix.RawSockaddrNetlink, batch),
		hdrs:   make([]mmsghdr, batch),
	}
	for i := range r.hdrs {
		r.iovs[i].Base = &r.buf[i*bufLen]
		r.iovs[i].SetLen(bufLen)
		r.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.SetIovlen(1)
	}
	return r
}

// Read receives up to a batch of datagrams and returns how many. A raw
// system call: with MSG_DONTWAIT it never blocks, and a real-time thread
// that calls it keeps its P. An error (EAGAIN: nothing queued, ENOBUFS:
// an overrun) comes back only when no datagram was received: the kernel
// keeps one met after the first for the next call. So fewer than a batch
// means the call met an error: the socket was empty, or the next call
// reports it.
func (r *Reader) Read(flags int) (int, unix.Errno) {
	for i := range r.hdrs {
		r.hdrs[i].hdr.Namelen = unix.SizeofSockaddrNetlink
		r.hdrs[i].hdr.Flags = 0
		r.hdrs[i].n = 0
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.hdrs[0])),
		uintptr(len(r.hdrs)), uintptr(flags), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// Datagram returns the i-th datagram of the last Read, valid until the
// next Read, and whether it was cut to fit its buffer.
func (r *Reader) Datagram(i int) (b []byte, cut bool) {
	off := i * r.bufLen
	return r.buf[off : off+int(r.hdrs[i].n)], r.hdrs[i].hdr.Flags&unix.MSG_TRUNC != 0
}

// FromKernel reports whether the i-th datagram of the last Read was sent
// by the kernel (netlink port 0), not by a process.
func (r *Reader) FromKernel(i int) bool {
	return r.names[i].Family == unix.AF_NETLINK && r.names[i].Pid == 0
}

// BufLen is the size of each datagram's buffer.
func (r *Reader) BufLen() int { return r.bufLen }
