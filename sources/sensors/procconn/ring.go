package procconn

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// ring carries an exec reader process's records to the main reader in
// memory both map (a memfd): no system call on either side, where a pipe
// cost a write per exec in the reader and a read per reader and batch
// (most of them EAGAIN) in the agent. One producer (the reader), one
// consumer (the main reader). Layout of the mapping:
//
//	0    head: bytes ever put (the producer's)
//	64   tail: bytes ever taken (the consumer's)
//	128  dropped: puts that found no room, and socket overflows
//	192  readExec: 1 when exe, stat and argv are to be read (the agent's)
//	4096 the data, a power of two long
//
// Each word on a cache line of its own, so neither side's writes move the
// other's line.
type ring struct {
	head, tail, dropped *atomic.Uint64
	readExec            *atomic.Uint32
	data                []byte
}

const ringHeader = 4096

// ringSize is the data's length: ~2,000 execs' records, far more than
// come between two drains of the main reader (a few ms).
const ringSize = 1 << 20

// newRing lays a ring over mem (ringHeader plus a power-of-two data area).
func newRing(mem []byte) (ring, error) {
	n := len(mem) - ringHeader
	if n <= 0 || n&(n-1) != 0 {
		return ring{}, fmt.Errorf("ring of %d bytes: want %d and a power of two", len(mem), ringHeader)
	}
	word := func(off int) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&mem[off])) }
	return ring{head: word(0), tail: word(64), dropped: word(128),
		readExec: (*atomic.Uint32)(unsafe.Pointer(&mem[192])), data: mem[ringHeader:]}, nil
}

// put appends b whole, or drops it (counted) when there is no room.
func (r ring) put(b []byte) bool {
	size := uint64(len(r.data))
	h, t := r.head.Load(), r.tail.Load()
	if size-(h-t) < uint64(len(b)) {
		r.dropped.Add(1)
		return false
	}
	i := h & (size - 1)
	n := copy(r.data[i:], b)
	copy(r.data, b[n:])
	// Published after the bytes: the consumer reads up to head only.
	r.head.Store(h + uint64(len(b)))
	return true
}

// take appends to dst everything put since the last take.
func (r ring) take(dst []byte) []byte {
	size := uint64(len(r.data))
	h, t := r.head.Load(), r.tail.Load()
	if h == t {
		return dst
	}
	if h-t > size {
		// Not what put writes: the producer is not ours to trust.
		r.tail.Store(h)
		r.dropped.Add(1)
		return dst
	}
	i, j := t&(size-1), h&(size-1)
	if i < j {
		dst = append(dst, r.data[i:j]...)
	} else {
		dst = append(dst, r.data[i:]...)
		dst = append(dst, r.data[:j]...)
	}
	r.tail.Store(h)
	return dst
}
