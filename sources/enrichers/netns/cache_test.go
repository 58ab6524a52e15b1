package netns

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ruled/ruled/sources/event"
)

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

func fixture(t *testing.T, name string) *fstest.MapFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return &fstest.MapFile{Data: b}
}

// fakeProc is a proc tree with two namespaces: 4026531840 (pids 10 and 11,
// the python fixture) and 4026532182 (pid 20, the Docker reverse shell
// fixture). Pid 11 holds one end of each established pair.
func fakeProc(t *testing.T) fstest.MapFS {
	return fstest.MapFS{
		"10/ns/net":    link("net:[4026531840]"),
		"10/net/tcp":   fixture(t, "tcp"),
		"10/net/tcp6":  fixture(t, "tcp6"),
		"10/net/udp":   fixture(t, "udp"),
		"10/net/udp6":  fixture(t, "udp6"),
		"10/fd/0":      link("/dev/null"),
		"10/fd/3":      link("socket:[624314]"),
		"10/fd/4":      link("socket:[624318]"),
		"11/ns/net":    link("net:[4026531840]"),
		"11/net/tcp":   fixture(t, "tcp"),
		"11/net/tcp6":  fixture(t, "tcp6"),
		"11/net/udp":   fixture(t, "udp"),
		"11/net/udp6":  fixture(t, "udp6"),
		"11/fd/5":      link("socket:[624317]"),
		"11/fd/6":      link("socket:[624325]"),
		"20/ns/net":    link("net:[4026532182]"),
		"20/net/tcp":   fixture(t, "docker_tcp"),
		"20/net/tcp6":  fixture(t, "docker_tcp6"),
		"20/net/udp":   fixture(t, "empty_udp"),
		"20/net/udp6":  fixture(t, "empty_udp"),
		"20/fd/0":      link("socket:[624113]"),
		"20/fd/1":      link("socket:[624113]"),
		"20/fd/2":      link("socket:[624113]"),
		"self":         link("20"),
		"sys/kernel/x": &fstest.MapFile{},
	}
}

func TestNetNS(t *testing.T) {
	proc := fakeProc(t)
	if ino, err := NetNS(proc, 20); err != nil || ino != 4026532182 {
		t.Errorf("NetNS(20) = %d, %v", ino, err)
	}
	if _, err := NetNS(proc, 99); err == nil {
		t.Error("NetNS(99): no error for a missing pid")
	}
}

func TestCacheSocketAndStdio(t *testing.T) {
	c := NewCache(Config{Proc: fakeProc(t)})
	s, ok := c.Socket(20, 624113)
	if !ok || s.Local.String() != "127.0.0.1:57376" || s.Remote.String() != "127.0.0.1:8080" || s.Kind != TCP {
		t.Fatalf("Socket(20, 624113) = %+v, %v", s, ok)
	}
	// The other namespace does not have it.
	if _, ok := c.Socket(10, 624113); ok {
		t.Error("socket of namespace 4026532182 found in 4026531840")
	}
	var in event.Stdio
	c.CompleteStdio(20, 0, 624113, &in)
	want := event.Stdio{Type: "socket", Name: "127.0.0.1:57376->127.0.0.1:8080", L4Proto: "tcp", SIP: "127.0.0.1", SPort: 57376, RIP: "127.0.0.1", RPort: 8080}
	if in != want {
		t.Errorf("stdio = %+v, want %+v", in, want)
	}
	// pids 10 and 11 share a namespace: one read serves both.
	c.Socket(11, 624317)
	if st := c.Stats(); st.Reads != 2 || st.Namespaces != 2 {
		// 20, then 10 (its miss for 624113 is fresh, < MinRefresh: no re-read); 11 shares 10's.
		t.Errorf("stats = %+v, want 2 reads of 2 namespaces", st)
	}
}

// An inode from /proc/PID/fd that a table read before the lookup lacks is
// looked for in a fresh read once (the socket may be newer than the table);
// one a fresh read lacks too is no TCP/UDP socket and is not looked for
// again.
func TestCacheMissRereadsOncePerInode(t *testing.T) {
	proc := fakeProc(t)
	c := NewCache(Config{Proc: proc, TTL: time.Hour})
	if _, ok := c.Socket(20, 624113); !ok {
		t.Fatal("known socket not found")
	}
	time.Sleep(2 * inodeGap)
	// A connection made after the read.
	proc["20/net/udp"] = &fstest.MapFile{Data: []byte("  sl\n 1: 0100007F:14E9 0100007F:0035 01 0:0 0:0 0 0 0 777 2 0 0\n")}
	if s, ok := c.Socket(20, 777); !ok || s.Kind != UDP {
		t.Fatalf("socket newer than the table: %+v, %v", s, ok)
	}
	if got := c.Stats().Reads; got != 2 {
		t.Errorf("reads = %d, want 2", got)
	}
	time.Sleep(2 * inodeGap)
	for range 3 { // a unix socket: one re-read, then remembered
		if _, ok := c.Socket(20, 999); ok {
			t.Fatal("found an inode that is not there")
		}
		time.Sleep(2 * inodeGap)
	}
	if got := c.Stats().Reads; got != 3 {
		t.Errorf("reads = %d, want 3 (one re-read for the unix inode)", got)
	}
}

func TestEnrichConnect(t *testing.T) {
	tests := []struct {
		name string
		in   event.Event
		want event.FD
	}{
		{"connect: local end from the table",
			event.Event{Evt: event.Evt{Type: event.TypeConnect}, Proc: event.Proc{PID: 20}, FD: event.FD{Type: "ipv4", RIP: "127.0.0.1", RPort: 8080}},
			event.FD{Type: "ipv4", L4Proto: "tcp", SIP: "127.0.0.1", SPort: 57376, RIP: "127.0.0.1", RPort: 8080, Name: "127.0.0.1:57376->127.0.0.1:8080"}},
		{"accept: the peer is the remote end",
			event.Event{Evt: event.Evt{Type: event.TypeAccept}, Proc: event.Proc{PID: 20}, FD: event.FD{RIP: "127.0.0.1", RPort: 57376}},
			event.FD{Type: "ipv4", L4Proto: "tcp", SIP: "127.0.0.1", SPort: 8080, RIP: "127.0.0.1", RPort: 57376, Name: "127.0.0.1:8080->127.0.0.1:57376"}},
		{"v4-mapped remote",
			event.Event{Evt: event.Evt{Type: event.TypeConnect}, Proc: event.Proc{PID: 10}, FD: event.FD{Type: "ipv6", RIP: "::ffff:127.0.0.1", RPort: 9091}},
			event.FD{Type: "ipv6", L4Proto: "tcp", SIP: "127.0.0.1", SPort: 37098, RIP: "::ffff:127.0.0.1", RPort: 9091, Name: "127.0.0.1:37098->127.0.0.1:9091"}},
		{"two sockets to one server: the pid's own wins",
			event.Event{Evt: event.Evt{Type: event.TypeConnect}, Proc: event.Proc{PID: 11}, FD: event.FD{RIP: "127.0.0.1", RPort: 8080, L4Proto: "tcp"}},
			event.FD{Type: "ipv4", L4Proto: "tcp", SIP: "127.0.0.1", SPort: 36406, RIP: "127.0.0.1", RPort: 8080, Name: "127.0.0.1:36406->127.0.0.1:8080"}},
		{"udp",
			event.Event{Evt: event.Evt{Type: event.TypeConnect}, Proc: event.Proc{PID: 10}, FD: event.FD{RIP: "127.0.0.1", RPort: 53, L4Proto: "udp"}},
			event.FD{Type: "ipv4", L4Proto: "udp", SIP: "127.0.0.1", SPort: 5353, RIP: "127.0.0.1", RPort: 53, Name: "127.0.0.1:5353->127.0.0.1:53"}},
		{"unknown remote left alone",
			event.Event{Evt: event.Evt{Type: event.TypeConnect}, Proc: event.Proc{PID: 10}, FD: event.FD{RIP: "10.0.0.1", RPort: 1}},
			event.FD{RIP: "10.0.0.1", RPort: 1}},
		{"unix socket left alone",
			event.Event{Evt: event.Evt{Type: event.TypeConnect}, Proc: event.Proc{PID: 10}, FD: event.FD{Type: "unix", Name: "/run/x.sock"}},
			event.FD{Type: "unix", Name: "/run/x.sock"}},
		{"not a socket event",
			event.Event{Evt: event.Evt{Type: event.TypeOpen}, Proc: event.Proc{PID: 20}, FD: event.FD{RIP: "127.0.0.1", RPort: 8080}},
			event.FD{RIP: "127.0.0.1", RPort: 8080}},
		{"process gone",
			event.Event{Evt: event.Evt{Type: event.TypeConnect}, Proc: event.Proc{PID: 99}, FD: event.FD{RIP: "127.0.0.1", RPort: 8080}},
			event.FD{RIP: "127.0.0.1", RPort: 8080}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCache(Config{Proc: fakeProc(t)})
			ev := tt.in
			c.Enrich(&ev)
			if ev.FD != tt.want {
				t.Errorf("fd = %+v\nwant %+v", ev.FD, tt.want)
			}
		})
	}
}

func TestEnrichStdioFromName(t *testing.T) {
	c := NewCache(Config{Proc: fakeProc(t)})
	ev := event.Event{Evt: event.Evt{Type: event.TypeExecve}, Proc: event.Proc{PID: 20,
		Stdin:  event.Stdio{Type: "socket", Name: "socket:[624113]"},
		Stdout: event.Stdio{Type: "pipe", Name: "pipe:[1]"},
		Stderr: event.Stdio{Type: "socket", Name: "socket:[1]"}, // a unix socket: not in the tables
	}}
	c.Enrich(&ev)
	if ev.Proc.Stdin.RIP != "127.0.0.1" || ev.Proc.Stdin.RPort != 8080 || ev.Proc.Stdin.L4Proto != "tcp" {
		t.Errorf("stdin = %+v", ev.Proc.Stdin)
	}
	if ev.Proc.Stdout != (event.Stdio{Type: "pipe", Name: "pipe:[1]"}) || ev.Proc.Stderr != (event.Stdio{Type: "socket", Name: "socket:[1]"}) {
		t.Errorf("stdout/stderr changed: %+v %+v", ev.Proc.Stdout, ev.Proc.Stderr)
	}
}

func TestSnapshot(t *testing.T) {
	got, err := Snapshot(fakeProc(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 15 {
		t.Errorf("%d sockets, want 15 (13 in the python namespace, 2 in the container)", len(got))
	}
	byInode := map[uint64]Entry{}
	for _, e := range got {
		byInode[e.Inode] = e
	}
	for _, tt := range []struct {
		inode uint64
		ns    uint64
		pids  []int
	}{
		{624113, 4026532182, []int{20}},
		{624314, 4026531840, []int{10}},
		{624317, 4026531840, []int{11}},
		{624107, 4026532182, nil},
	} {
		e := byInode[tt.inode]
		if e.NetNS != tt.ns || !reflect.DeepEqual(e.PIDs, tt.pids) {
			t.Errorf("inode %d: ns %d pids %v, want ns %d pids %v", tt.inode, e.NetNS, e.PIDs, tt.ns, tt.pids)
		}
	}
	if !got[0].Local.Addr().Is4() || got[0].NetNS != 4026531840 {
		t.Errorf("not sorted by namespace then table: first %+v", got[0])
	}
}
