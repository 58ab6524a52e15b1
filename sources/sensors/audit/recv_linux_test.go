package audit

import (
	"bytes"
	"errors"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBatchReaderNetlink reads a real kernel reply (a NETLINK_ROUTE link
// dump, which needs no privilege) through the batch reader.
func TestBatchReaderNetlink(t *testing.T) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg)
	putHeader(req, syscall.NlMsghdr{Len: uint32(len(req)), Type: unix.RTM_GETLINK, Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP, Seq: 1})
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	r := newBatchReader(fd)
	var n int
	for range 1000 {
		if n, err = r.read(); !errors.Is(err, syscall.EAGAIN) {
			break
		}
		if _, err := (&socket{fd: fd}).wait(100e6); err != nil {
			t.Fatal(err)
		}
	}
	if err != nil || n == 0 {
		t.Fatalf("read: %d messages, %v", n, err)
	}
	for i := range n {
		typ, data, err := r.message(i)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if typ != unix.RTM_NEWLINK && typ != unix.NLMSG_DONE {
			t.Errorf("message %d: type %d", i, typ)
		}
		if len(data) == 0 {
			t.Errorf("message %d: no payload", i)
		}
	}
}

// TestBatchReaderRejectsNonKernel: what does not come from the kernel's
// netlink address (here a local datagram) is an error, as it was with
// go-libaudit's receive.
func TestBatchReaderRejectsNonKernel(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	r := newBatchReader(fds[1])
	if _, err := r.read(); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("empty socket: %v, want EAGAIN", err)
	}
	if _, err := unix.Write(fds[0], make([]byte, 40)); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(fds[0], make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	n, err := r.read()
	if err != nil || n != 2 {
		t.Fatalf("read: %d, %v; want 2 messages", n, err)
	}
	if _, _, err := r.message(0); err == nil || !strings.Contains(err.Error(), "not from the kernel") {
		t.Errorf("message from a unix socket: %v", err)
	}
	if _, _, err := r.message(1); err == nil || !strings.Contains(err.Error(), "short") {
		t.Errorf("4-byte message: %v", err)
	}
}

func TestRawBatch(t *testing.T) {
	p := newBatchPool()
	b := p.get()
	b.add(1300, 1, false, []byte("audit(1.000:1): a=1\n\x00\x00"))
	b.add(1307, 1, true, []byte("audit(1.000:1): b=2"))
	if len(b.recs) != 2 || string(b.data(0)) != "audit(1.000:1): a=1" || string(b.data(1)) != "audit(1.000:1): b=2" {
		t.Fatalf("records %+v %q %q", b.recs, b.data(0), b.data(1))
	}
	if r := b.recs[1]; r.typ != 1307 || r.seq != 1 || !r.bad {
		t.Fatalf("second record's header fields: %+v", r)
	}
	// A caller appending to one record's text must not write over the next.
	_ = append(b.data(0), "XXXX"...)
	if string(b.data(1)) != "audit(1.000:1): b=2" {
		t.Fatalf("append to a record reached the next: %q", b.data(1))
	}
	src := []byte("audit(1.000:3): c=3")
	b.add(1302, 3, false, src)
	src[0] = 'X'
	if string(b.data(2)) != "audit(1.000:3): c=3" {
		t.Fatalf("the batch shares the source: %q", b.data(2))
	}
	p.put(b)
	if again := p.get(); again != b || len(again.recs) != 0 || len(again.buf) != 0 {
		t.Fatalf("a batch put back comes back empty: %p %p %d %d", again, b, len(again.recs), len(again.buf))
	}
	huge := p.get()
	huge.add(1309, 4, false, bytes.Repeat([]byte("x"), 2<<20))
	p.put(huge)
	if again := p.get(); again == huge {
		t.Fatal("a batch with a huge buffer was kept")
	}
}

// BenchmarkRecvDatagrams drains 32 queued datagrams of an exec record's
// size one recvfrom each (go-libaudit's receive, a clone per record) or
// with the batch reader into a reused batch (ruled's). Sending is the same in
// both.
func BenchmarkRecvDatagrams(b *testing.B) {
	rec := append([]byte("audit(1700000000.123:42): "), bytes.Repeat([]byte("k=v "), 70)...)
	for _, mode := range []string{"recvfrom", "recvmmsg"} {
		b.Run(mode, func(b *testing.B) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			_ = unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
			r := newBatchReader(fds[1])
			buf := make([]byte, r.BufLen())
			batch := newBatchPool().get()
			var kept [][]byte
			b.ReportAllocs()
			for b.Loop() {
				for range recvBatch {
					if _, err := unix.Write(fds[0], rec); err != nil {
						b.Fatal(err)
					}
				}
				kept = kept[:0]
				batch.reset()
				got := 0
				for got < recvBatch {
					if mode == "recvfrom" {
						n, _, err := unix.Recvfrom(fds[1], buf, unix.MSG_DONTWAIT)
						if err != nil {
							b.Fatal(err)
						}
						kept = append(kept, bytes.Clone(bytes.TrimRight(buf[:n], "\x00\n")))
						got++
						continue
					}
					n, err := r.read()
					if err != nil {
						b.Fatal(err)
					}
					for i := range n {
						d, _ := r.Datagram(i)
						batch.add(1300, 0, false, d)
					}
					got += n
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*recvBatch), "ns/record")
		})
	}
}
