package main

import (
	"bytes"
	"io/fs"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ruled/ruled/sources/enrichers/netns"
)

func TestNetstatRowsAndTable(t *testing.T) {
	const cid = "178c0a0c8e9f3e9ef1169b068001a4f998b7788b6523dc4713b0c6690070d1b5"
	proc := fstest.MapFS{
		"20/exe":  {Data: []byte("/bin/busybox"), Mode: fs.ModeSymlink | 0o777},
		"20/comm": {Data: []byte("sh\n")},
		"30/comm": {Data: []byte("kworker\n")},
	}
	ap := netip.MustParseAddrPort
	entries := []netns.Entry{
		{Socket: netns.Socket{Kind: netns.TCP, State: netns.Established, Local: ap("127.0.0.1:57376"), Remote: ap("127.0.0.1:8080"), Inode: 7}, NetNS: 2, PIDs: []int{20, 21}},
		{Socket: netns.Socket{Kind: netns.TCP, State: netns.TimeWait, Local: ap("127.0.0.1:1"), Remote: ap("127.0.0.1:2")}, NetNS: 2},
		{Socket: netns.Socket{Kind: netns.UDP, State: netns.Close, Local: ap("0.0.0.0:53"), Remote: ap("0.0.0.0:0"), Inode: 9}, NetNS: 1, PIDs: []int{30}},
	}
	containerOf := func(pid int) string {
		if pid == 20 {
			return cid
		}
		return "host"
	}
	nameOf := func(id string) string {
		if id == cid {
			return "web"
		}
		return ""
	}
	rows := netstatRows(proc, entries, containerOf, nameOf)
	if r := rows[0]; r.PID != 20 || r.Exe != "/bin/busybox" || r.Comm != "sh" || r.ContainerID != cid || r.ContainerName != "web" || r.State != "ESTABLISHED" {
		t.Errorf("row 0 = %+v", r)
	}
	if r := rows[1]; r.PID != 0 || r.ContainerID != cid || r.ContainerName != "web" {
		t.Errorf("unheld socket did not get its namespace's container: %+v", r)
	}
	if r := rows[2]; r.State != "" || r.Exe != "" || r.Comm != "kworker" || r.ContainerID != "host" {
		t.Errorf("row 2 = %+v", r)
	}
	var buf bytes.Buffer
	if err := writeNetstatTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	want := `PROTO  STATE        LOCAL            REMOTE          PID   EXE           CONTAINER     NAME
tcp    ESTABLISHED  127.0.0.1:57376  127.0.0.1:8080  20+1  /bin/busybox  178c0a0c8e9f  web
tcp    TIME_WAIT    127.0.0.1:1      127.0.0.1:2     -     -             178c0a0c8e9f  web
udp    -            0.0.0.0:53       0.0.0.0:0       30    kworker       host          -
`
	if got := buf.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(buf.String(), "PROTO") {
		t.Error("no header")
	}
}
