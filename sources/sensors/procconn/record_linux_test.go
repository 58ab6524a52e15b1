package procconn

import (
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

var record = flag.Bool("record", false, "record testdata/capture.hex from the live proc connector (root)")

// TestRecordCapture refreshes the real-kernel fixture when run with -record:
// it subscribes, runs a small process tree (a thread-free shell, a fork, an
// exec, a comm change by exec, a non-zero exit) and keeps the messages
// of that tree. Without -record it has nothing to check and says so.
func TestRecordCapture(t *testing.T) {
	if !*record {
		t.Skip("fixture recorder; run with -record as root to refresh testdata/capture.hex")
	}
	conn, err := netlink.Dial(unix.NETLINK_CONNECTOR, &netlink.Config{Groups: cnIdxProc})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := send(conn, mcastListen); err != nil {
		t.Fatal(err)
	}
	defer send(conn, mcastIgnore)
	cmd := exec.Command("/bin/sh", "-c", "/bin/true; (exit 3); exec /bin/sleep 0.05")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	root := int32(cmd.Process.Pid)
	go cmd.Wait()
	tree := map[int32]bool{root: true}
	var lines []string
	deadline := time.Now().Add(2 * time.Second)
	conn.SetReadDeadline(deadline)
	for time.Now().Before(deadline) {
		msgs, err := conn.Receive()
		if err != nil {
			break
		}
		for _, m := range msgs {
			p, err := parseProcEvent(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			keep := tree[p.TGID] || (p.What == WhatFork && tree[p.ParentTGID]) || p.What == WhatNone
			if !keep {
				continue
			}
			if p.What == WhatFork {
				tree[p.TGID] = true
			}
			lines = append(lines, hex.EncodeToString(m.Data))
			if p.What == WhatExit && p.TGID == root {
				deadline = time.Now()
			}
		}
	}
	out := filepath.Join("testdata", "capture.hex")
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d messages to %s", len(lines), out)
}

func send(conn *netlink.Conn, op uint32) error {
	_, err := conn.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.Done, PID: uint32(os.Getpid())},
		Data:   subscribeMsg(op),
	})
	return err
}
