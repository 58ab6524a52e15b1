package netns

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// socketInode returns the inode of a socket's file, what /proc/PID/fd and
// the tables name.
func socketInode(t testing.TB, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return st.Ino
}

// openPairs opens n loopback connections (2n sockets plus a listener).
func openPairs(t testing.TB, n int) (*net.TCPListener, []*net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var conns []*net.TCPConn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		ln.Close()
	})
	for range n {
		c, err := net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c, s)
	}
	return ln, conns
}

// TestLiveOwnSockets reads this process's namespace from the real /proc.
func TestLiveOwnSockets(t *testing.T) {
	ln, conns := openPairs(t, 3)
	c := NewCache(Config{})
	pid := os.Getpid()
	s, ok := c.Socket(pid, socketInode(t, ln))
	if !ok || s.State != Listen || s.Local.String() != ln.Addr().String() {
		t.Fatalf("listener: %+v, %v", s, ok)
	}
	dialed := conns[0]
	s, ok = c.Socket(pid, socketInode(t, dialed))
	if !ok || s.State != Established || s.Local.String() != dialed.LocalAddr().String() || s.Remote.String() != dialed.RemoteAddr().String() {
		t.Fatalf("dialed: %+v, %v", s, ok)
	}
	rip := dialed.RemoteAddr().(*net.TCPAddr).AddrPort()
	// Three connections share the remote: the fd join must pick one this
	// process holds, and all are; the found one must have that remote.
	got, ok := c.FindByRemote(pid, "tcp", rip.Addr(), rip.Port())
	if !ok || got.Remote != rip {
		t.Errorf("FindByRemote: %+v, %v", got, ok)
	}
	held := PIDInodes(os.DirFS("/proc"), pid)
	if _, ok := held[socketInode(t, dialed)]; !ok {
		t.Errorf("PIDInodes misses the dialed socket: %v", held)
	}
}

// BenchmarkReadNamespace1000 reads the four tables of a namespace holding
// over 1,000 sockets (500 loopback connections: 1,000 sockets, plus the
// listener and whatever else the namespace has).
func BenchmarkReadNamespace1000(b *testing.B) {
	openPairs(b, 500)
	proc := os.DirFS("/proc")
	pid := os.Getpid()
	var n int
	b.ReportAllocs()
	for b.Loop() {
		socks, err := ReadTables(proc, pid)
		if err != nil {
			b.Fatal(err)
		}
		n = len(socks)
	}
	if n < 1000 {
		b.Fatalf("%d sockets, want >= 1000", n)
	}
	b.ReportMetric(float64(n), "sockets")
}

// BenchmarkCacheSocketHit is the event-path cost once a namespace is read
// (a long TTL keeps re-reads out of the figure).
func BenchmarkCacheSocketHit(b *testing.B) {
	ln, _ := openPairs(b, 500)
	ino := socketInode(b, ln)
	c := NewCache(Config{TTL: time.Hour})
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Socket(pid, ino); !ok {
			b.Fatal("miss")
		}
	}
}
