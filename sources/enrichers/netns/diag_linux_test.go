package netns

import (
	"os"
	"slices"
	"testing"
)

func TestParseDiagMsg(t *testing.T) {
	msg := []byte{
		10, 1, 0, 0, // family AF_INET6, state ESTABLISHED, timer, retrans
		0x1f, 0x90, 0xe0, 0x20, // sport 8080, dport 57376 (big-endian)
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1, // src ::ffff:127.0.0.1
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // dst ::1
		0, 0, 0, 0, // if
		0, 0, 0, 0, 0, 0, 0, 0, // cookie
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // expires, rqueue, wqueue
		0xe8, 0x03, 0, 0, // uid 1000 (host order, little-endian here)
		0x6b, 0x87, 0x09, 0x00, // inode 624491
	}
	s, err := parseDiagMsg(msg, TCP6)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := format(s), "tcp6 ESTABLISHED 127.0.0.1:8080 [::1]:57376 uid=1000 inode=624491"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := parseDiagMsg(msg[:71], TCP6); err == nil {
		t.Error("short message accepted")
	}
}

// TestDiagMatchesProc checks that both readers see the same sockets.
func TestDiagMatchesProc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("sock_diag across namespaces needs root (setns)")
	}
	openPairs(t, 20)
	pid := os.Getpid()
	key := func(socks []Socket) []string {
		var out []string
		for _, s := range socks {
			if s.Inode != 0 && (s.State == Listen || s.State == Established) {
				out = append(out, format(s))
			}
		}
		slices.Sort(out)
		return out
	}
	fromProc, err := ReadTables(os.DirFS("/proc"), pid)
	if err != nil {
		t.Fatal(err)
	}
	fromDiag, err := DiagTables(pid)
	if err != nil {
		t.Fatal(err)
	}
	p, d := key(fromProc), key(fromDiag)
	if len(p) < 41 || !slices.Equal(p, d) {
		t.Errorf("/proc and sock_diag differ:\nproc %d %v\ndiag %d %v", len(p), p, len(d), d)
	}
}

// The comparison behind the choice of reader: the same 1,000 sockets
// through /proc (BenchmarkReadNamespace1000) and through sock_diag, the
// latter including the setns round trip that reaching another namespace
// needs.
func BenchmarkDiagNamespace1000(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("setns needs root")
	}
	openPairs(b, 500)
	pid := os.Getpid()
	var n int
	b.ReportAllocs()
	for b.Loop() {
		socks, err := DiagTables(pid)
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

func FuzzParseDiagMsg(f *testing.F) {
	f.Add(make([]byte, inetDiagMsgLen), uint8(0))
	f.Add(append([]byte{10, 1}, make([]byte, 70)...), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, k uint8) {
		s, err := parseDiagMsg(b, Kind(k%4))
		if err == nil && (!s.Local.IsValid() || !s.Remote.IsValid()) {
			t.Fatalf("invalid socket %+v", s)
		}
	})
}
