package procconn

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources/event"
)

// datagramPair is a connected pair of datagram sockets: what is written to
// the first, the batch reader reads from the second as from the proc
// connector's socket.
func datagramPair(t *testing.T) (w, r int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	_ = unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	return fds[0], fds[1]
}

// nlDatagram wraps a proc connector payload in its netlink header, as the
// kernel sends it.
func nlDatagram(payload []byte) []byte {
	b := make([]byte, 16, 16+len(payload))
	binary.NativeEndian.PutUint32(b[0:4], uint32(16+len(payload)))
	binary.NativeEndian.PutUint16(b[4:6], unix.NLMSG_DONE)
	return append(b, payload...)
}

// TestBatchReader: one call takes up to recvBatch queued datagrams, whole
// and in order, flags one longer than its buffer as cut, and an empty
// socket reads as EAGAIN.
func TestBatchReader(t *testing.T) {
	w, rfd := datagramPair(t)
	const queued = recvBatch + 5
	for i := range queued {
		if _, err := unix.Write(w, bytes.Repeat([]byte{byte(i)}, 1+i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := unix.Write(w, make([]byte, recvBufLen+1)); err != nil {
		t.Fatal(err)
	}
	r := newBatchReader(rfd)
	seen := 0
	for _, want := range []int{recvBatch, queued - recvBatch + 1} {
		n, errno := r.Read(unix.MSG_DONTWAIT)
		if errno != 0 || n != want {
			t.Fatalf("read: %d datagrams, error %v; want %d", n, errno, want)
		}
		for i := range n {
			b, cut := r.Datagram(i)
			if seen == queued {
				if !cut || len(b) != recvBufLen {
					t.Errorf("datagram longer than its buffer: %d bytes, cut %v", len(b), cut)
				}
				continue
			}
			if cut || !bytes.Equal(b, bytes.Repeat([]byte{byte(seen)}, 1+seen)) {
				t.Errorf("datagram %d: %v cut %v", seen, b, cut)
			}
			seen++
		}
	}
	if n, errno := r.Read(unix.MSG_DONTWAIT); errno != unix.EAGAIN {
		t.Errorf("empty socket: %d datagrams, error %v; want EAGAIN", n, errno)
	}
}

// TestDrain: a drain hands every event of the queued datagrams to emit,
// in order, across several batches, counts a cut datagram as malformed,
// and stops at an empty socket, strict or not.
func TestDrain(t *testing.T) {
	capture := readCapture(t)
	var want []string
	for _, b := range capture {
		p, err := parseProcEvent(b)
		if err != nil {
			t.Fatal(err)
		}
		if ev := toEvent(&p, time.Unix(0, 0)); ev != nil {
			want = append(want, string(ev.Evt.Type))
		}
	}
	passes := 2*recvBatch/len(capture) + 1 // datagrams for more than two batches
	for _, strict := range []bool{false, true} {
		w, rfd := datagramPair(t)
		for range passes {
			for _, b := range capture {
				if _, err := unix.Write(w, nlDatagram(b)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := unix.Write(w, nlDatagram(make([]byte, recvBufLen))); err != nil {
			t.Fatal(err)
		}
		s := New(Config{})
		var got []string
		h := handler{s: s, bootWall: time.Unix(0, 0), emit: func(ev *event.Event) { got = append(got, string(ev.Evt.Type)) }}
		read, err := h.drain(context.Background(), newBatchReader(rfd), strict)
		if err != nil {
			t.Fatalf("strict %v: %v", strict, err)
		}
		if read != len(capture)*passes+1 {
			t.Errorf("strict %v: read %d datagrams, want %d", strict, read, len(capture)*passes+1)
		}
		for i := range passes {
			if i*len(want)+len(want) > len(got) || !slices.Equal(got[i*len(want):(i+1)*len(want)], want) {
				t.Fatalf("strict %v: events %q, want %d times %q", strict, got, passes, want)
			}
		}
		if len(got) != passes*len(want) {
			t.Errorf("strict %v: %d events, want %d", strict, len(got), passes*len(want))
		}
		if st := s.Stats(); st.Malformed != 1 {
			t.Errorf("strict %v: malformed %d, want 1 (the cut datagram)", strict, st.Malformed)
		}
		if read, err := h.drain(context.Background(), newBatchReader(rfd), strict); read != 0 || err != nil {
			t.Errorf("strict %v: drain of an empty socket: %d, %v", strict, read, err)
		}
	}
}

// TestDrainErrors: an overrun is counted and asks for a resync, once per
// drain call that meets it; any other receive error ends the receiver,
// unless its context ended.
func TestDrainErrors(t *testing.T) {
	s := New(Config{})
	resync := make(chan struct{}, 1)
	h := handler{s: s, resync: resync}
	if err := h.failed(context.Background(), unix.ENOBUFS); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Overruns != 1 || len(resync) != 1 {
		t.Errorf("overrun: %d counted, resync asked %d; want 1 and 1", st.Overruns, len(resync))
	}
	if err := h.failed(context.Background(), unix.EBADF); !errors.Is(err, unix.EBADF) {
		t.Errorf("other error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.failed(ctx, unix.EBADF); err != nil {
		t.Errorf("error after the context ended: %v", err)
	}
	// A socket that fails ends the drain with its error.
	if _, err := h.drain(context.Background(), newBatchReader(-1), false); !errors.Is(err, unix.EBADF) {
		t.Errorf("drain of a bad descriptor: %v", err)
	}
}

// BenchmarkDrain drains k queued datagrams of a proc connector event's
// size as the main reader did before (one recvfrom each and one more for
// EAGAIN) and as it does now (recvmmsg batches, stopping at a short one).
// k is one exec on the exec-only socket (1; recvmmsg then waits for the
// first, as the exec thread does), a fork+exec+exit (3) or a coalescing pause's worth under an exec
// storm (6 to 12).
func BenchmarkDrain(b *testing.B) {
	msg := nlDatagram(make([]byte, 60))
	for _, k := range []int{1, 3, 6, 12} {
		for _, mode := range []string{"recvfrom", "recvmmsg"} {
			b.Run(fmt.Sprintf("%s/%d", mode, k), func(b *testing.B) {
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				defer unix.Close(fds[0])
				defer unix.Close(fds[1])
				r := newBatchReader(fds[1])
				buf := make([]byte, 64<<10)
				// One datagram: as the exec thread waits for one.
				flags := unix.MSG_DONTWAIT
				if k == 1 {
					flags = unix.MSG_WAITFORONE
				}
				for b.Loop() {
					b.StopTimer()
					for range k {
						if _, err := unix.Write(fds[0], msg); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
					got := 0
					if mode == "recvfrom" {
						for {
							n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fds[1]), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_DONTWAIT, 0, 0)
							if errno == unix.EAGAIN {
								break
							}
							if errno != 0 || n == 0 {
								b.Fatal(errno)
							}
							got++
							if k == 1 {
								break // the exec thread's one blocking read
							}
						}
					} else {
						for {
							n, errno := r.Read(flags)
							if errno != 0 {
								b.Fatal(errno)
							}
							got += n
							if n < recvBatch {
								break
							}
						}
					}
					if got != k {
						b.Fatalf("read %d of %d", got, k)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/datagram")
			})
		}
	}
}
