package audit

import (
	"bytes"
	"errors"
	"fmt"
	"syscall"

	"github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources/sensors/internal/mmsg"
)

// recvBatch is how many netlink messages one recvmmsg call may return.
// kauditd sends each record as its own message, so an exec (~7 records
// plus those of its neighbours) fits in one or two calls instead of one
// recvfrom each.
const recvBatch = 32

// batchReader receives audit messages many at a time into buffers it
// reuses (package mmsg): nothing is allocated per message.
type batchReader struct{ *mmsg.Reader }

func newBatchReader(fd int) batchReader {
	return batchReader{mmsg.New(fd, recvBatch, syscall.NLMSG_HDRLEN+libaudit.AuditMessageMaxLength)}
}

// read receives without blocking what the socket holds, up to recvBatch
// messages, and returns how many. An error (EAGAIN when nothing waits,
// ENOBUFS after an overrun) comes back only when no message was received:
// the kernel keeps an error met after the first message for the next call.
func (r batchReader) read() (int, error) {
	n, errno := r.Read(unix.MSG_DONTWAIT)
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// message returns the type and payload of the i-th message of the last
// read; the payload is only valid until the next read. Like go-libaudit's
// parser it takes everything after the netlink header as the payload.
func (r batchReader) message(i int) (typ uint16, data []byte, err error) {
	b, _ := r.Datagram(i)
	if len(b) < syscall.NLMSG_HDRLEN {
		return 0, nil, fmt.Errorf("short netlink message (%d bytes)", len(b))
	}
	if !r.FromKernel(i) {
		return 0, nil, errors.New("netlink message not from the kernel")
	}
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
