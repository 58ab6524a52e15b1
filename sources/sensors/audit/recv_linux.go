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

// rawBatch is a batch of received records on its way from the receiver
// to the parser: their headers' fields and their text, copied one after
// another into one buffer. Batches go back to the receiver once parsed
// (batchPool), so in a steady stream neither the records' slice nor their
// text is allocated again.
type rawBatch struct {
	recs []raw
	buf  []byte
}

// maxBatch bounds the records of one batch.
const maxBatch = 256

// add copies a record's text without its trailing NULs and newline.
func (b *rawBatch) add(typ uint16, seq uint64, bad bool, data []byte) {
	data = bytes.TrimRight(data, "\x00\n")
	off := len(b.buf)
	b.buf = append(b.buf, data...)
	b.recs = append(b.recs, raw{typ: typ, seq: seq, bad: bad, off: off, end: len(b.buf)})
}

// data is the text of the i-th record, valid until the batch is reused.
// It is capped so that appending to it cannot reach the next record.
func (b *rawBatch) data(i int) []byte {
	r := &b.recs[i]
	return b.buf[r.off:r.end:r.end]
}

func (b *rawBatch) reset() {
	b.recs = b.recs[:0]
	b.buf = b.buf[:0]
}

// batchPool hands parsed batches back to the receiver. It keeps a few:
// more wait only in a burst, and the collector may have those.
type batchPool struct {
	free chan *rawBatch
}

func newBatchPool() *batchPool { return &batchPool{free: make(chan *rawBatch, 8)} }

func (p *batchPool) get() *rawBatch {
	select {
	case b := <-p.free:
		return b
	default:
		return &rawBatch{recs: make([]raw, 0, maxBatch), buf: make([]byte, 0, 32<<10)}
	}
}

// put returns a batch the parser is done with: its records' text must no
// longer be referenced (the reassembler keeps copies).
func (p *batchPool) put(b *rawBatch) {
	if cap(b.buf) > 1<<20 {
		return // a batch of huge records: do not keep its buffer
	}
	b.reset()
	select {
	case p.free <- b:
	default:
	}
}
