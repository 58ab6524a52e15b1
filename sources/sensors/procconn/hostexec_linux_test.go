package procconn

import (
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources/enrichers/procfs"
)

// TestHostExecFilter runs the filter in the kernel: on the main socket
// an exec in this (the host's) mount namespace comes cut to the mark and
// one in a mount namespace of its own comes whole; on the exec-only
// socket the first does not come at all while the drop program is on,
// and comes again once it is taken off.
func TestHostExecFilter(t *testing.T) {
	f, pre, _ := hostFilterFixture(t, false)
	main, err := openSocket(1<<20, 50*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer main.close()
	if err := main.send(subscribeMsg(mcastListen)); err != nil {
		t.Fatal(err)
	}
	if err := attachFilter(main.fd, f.mark); err != nil {
		t.Fatal(err)
	}
	if err := f.follow(pre, true); err != nil {
		t.Fatal(err)
	}

	run := func(ns bool) int {
		t.Helper()
		cmd := exec.Command("/bin/true")
		if ns {
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
		}
		if err := cmd.Run(); err != nil {
			t.Fatalf("run /bin/true (own mount namespace %v): %v", ns, err)
		}
		return cmd.Process.Pid
	}
	// execs reads sock until quiet and returns, by pid, the length of
	// each exec's datagram and whether it was marked.
	type seen struct {
		length int
		marked bool
	}
	execs := func(sock *rawSocket) map[int32]seen {
		got := map[int32]seen{}
		buf := make([]byte, 64<<10)
		for {
			n, _, err := unix.Recvfrom(sock.fd, buf, 0)
			if err != nil {
				return got // the receive timeout: nothing more came
			}
			b := buf[:n]
			marked := unmarkHostExec(b)
			eachMessage(b, func(m []byte) {
				p, err := parseProcEvent(m)
				if err != nil {
					t.Errorf("parse %d-byte datagram (marked %v): %v", n, marked, err)
					return
				}
				if p.What == WhatExec {
					got[p.TGID] = seen{n, marked}
				}
			}, func() { t.Errorf("malformed %d-byte datagram", n) })
		}
	}

	hostPID, nsPID := run(false), run(true)
	onMain, onPre := execs(main), execs(pre)
	if s, ok := onMain[int32(hostPID)]; !ok || !s.marked {
		t.Errorf("main socket, host exec: %+v (seen %v), want marked", s, ok)
	}
	if s, ok := onMain[int32(nsPID)]; !ok || s.marked || s.length <= hostExecMarkLen {
		t.Errorf("main socket, exec in its own mount namespace: %+v (seen %v), want whole", s, ok)
	}
	if s, ok := onPre[int32(hostPID)]; ok {
		t.Errorf("exec-only socket, host exec: %+v, want dropped", s)
	}
	if s, ok := onPre[int32(nsPID)]; !ok || s.marked {
		t.Errorf("exec-only socket, exec in its own mount namespace: %+v (seen %v), want whole", s, ok)
	}

	// Audit no longer brings exe: host execs reach the exec-only socket
	// again, marked; others whole.
	if err := f.follow(pre, false); err != nil {
		t.Fatal(err)
	}
	hostPID, nsPID = run(false), run(true)
	onPre = execs(pre)
	if s, ok := onPre[int32(hostPID)]; !ok || !s.marked {
		t.Errorf("exec-only socket after the drop program came off, host exec: %+v (seen %v), want marked", s, ok)
	}
	if s, ok := onPre[int32(nsPID)]; !ok || s.marked {
		t.Errorf("exec-only socket after the drop program came off, exec in its own mount namespace: %+v (seen %v), want whole", s, ok)
	}
}

// hostFilterFixture loads the host exec filter for this process's mount
// namespace (with the capturing program when withCapture) and opens an
// exec-only socket; both go at the test's end. It skips the test but as
// root.
func hostFilterFixture(t *testing.T, withCapture bool) (*hostExecFilter, *rawSocket, uint64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the proc connector and loading an eBPF program")
	}
	l, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	host := procfs.NSInode(l)
	f, capErr, err := newHostExecFilter(host, withCapture)
	if err != nil {
		t.Fatalf("host exec filter: %v", err)
	}
	t.Cleanup(f.close)
	if capErr != nil {
		t.Fatalf("capturing program: %v", capErr)
	}
	pre, err := openExecSocket(1<<20, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("exec-only socket: %v", err)
	}
	t.Cleanup(pre.close)
	return f, pre, host
}

// TestReaderTakesHostMark: an exec reader given a marked exec records the
// host's namespace without reading it (here a namespace that is not this
// process's own, which a read would have found), and reads the cgroup of
// no such exec; an unmarked one it reads.
func TestReaderTakesHostMark(t *testing.T) {
	l, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	own := procfs.NSInode(l)
	host := own + 1
	exec := func(marked bool) []byte {
		body := cat(procHdr(WhatExec, 0, 42), u32(uint32(os.Getpid())), u32(uint32(os.Getpid())))
		if !marked {
			body = append(body, make([]byte, procPayloadMax-8)...)
		}
		b := nlDatagram(cnMsg(1, body))
		if marked {
			// As the filter leaves it: the headers count the whole.
			binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)+procPayloadMax-8))
			binary.NativeEndian.PutUint16(b[nlmsgHdrLen+16:], procHeaderLen+procPayloadMax)
		}
		return b
	}
	for _, tt := range []struct {
		marked bool
		mnt    uint64
		cgroup bool
	}{
		{true, host, false},
		{false, own, true},
	} {
		p := readerProc{spec: readerSpec{cpu: -1, hostMnt: host, cgroup: true}, readExec: func() bool { return true }}
		p.handle(exec(tt.marked))
		rec, n, err := nextRecord(p.w.b)
		if err != nil || n != len(p.w.b) {
			t.Fatalf("marked %v: record %d of %d bytes: %v", tt.marked, n, len(p.w.b), err)
		}
		if rec.mnt != tt.mnt || (rec.flags&flagCgroup != 0) != tt.cgroup || len(rec.exe) == 0 {
			t.Errorf("marked %v: mnt %d, cgroup read %v, exe %q; want mnt %d, cgroup %v, an exe", tt.marked, rec.mnt, rec.flags&flagCgroup != 0, rec.exe, tt.mnt, tt.cgroup)
		}
	}
}

func TestMayTrace(t *testing.T) {
	bit := func(cs ...int) uint64 {
		var m uint64
		for _, c := range cs {
			m |= 1 << c
		}
		return m
	}
	for _, tt := range []struct {
		eff  uint64
		want bool
	}{
		{bit(unix.CAP_SYS_ADMIN), true},
		{bit(unix.CAP_BPF, unix.CAP_PERFMON), true},
		{bit(unix.CAP_BPF), false},
		{bit(unix.CAP_PERFMON, unix.CAP_NET_ADMIN), false},
		{0, false},
	} {
		if got := mayTrace(tt.eff); got != tt.want {
			t.Errorf("mayTrace(%#x) = %v, want %v", tt.eff, got, tt.want)
		}
	}
	if os.Geteuid() == 0 {
		eff, err := effectiveCaps()
		if err != nil || !mayTrace(eff) {
			t.Errorf("root: capabilities %#x (%v), want CAP_SYS_ADMIN", eff, err)
		}
	}
}
