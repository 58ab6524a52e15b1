package mmsg

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// One call takes at most a batch of queued datagrams, each whole unless
// longer than its buffer (then cut and said so); the next takes the rest;
// an empty socket answers EAGAIN. A process's datagram is not the kernel's.
func TestReader(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	const batch, bufLen = 4, 8
	sent := [][]byte{[]byte("a"), []byte("bb"), []byte("0123456789"), []byte("ccc"), []byte("dddd"), []byte("e")}
	for _, d := range sent {
		if _, err := unix.Write(fds[0], d); err != nil {
			t.Fatal(err)
		}
	}
	r := New(fds[1], batch, bufLen)
	i := 0
	for _, want := range []int{batch, len(sent) - batch} {
		n, errno := r.Read(unix.MSG_DONTWAIT)
		if errno != 0 || n != want {
			t.Fatalf("read %d datagrams (%v), want %d", n, errno, want)
		}
		for j := range n {
			b, cut := r.Datagram(j)
			wantB, wantCut := sent[i], len(sent[i]) > bufLen
			if wantCut {
				wantB = wantB[:bufLen]
			}
			if !bytes.Equal(b, wantB) || cut != wantCut {
				t.Errorf("datagram %d: %q cut %v, want %q cut %v", i, b, cut, wantB, wantCut)
			}
			if r.FromKernel(j) {
				t.Errorf("datagram %d: from the kernel, but a process sent it", i)
			}
			i++
		}
	}
	if n, errno := r.Read(unix.MSG_DONTWAIT); n != 0 || errno != unix.EAGAIN {
		t.Errorf("empty socket: %d datagrams, %v; want EAGAIN", n, errno)
	}
	if r.BufLen() != bufLen {
		t.Errorf("BufLen %d, want %d", r.BufLen(), bufLen)
	}
}
