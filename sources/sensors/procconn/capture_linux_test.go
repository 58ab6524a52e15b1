package procconn

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHostExecCapture runs the capturing program in the kernel on an
// exec-only socket:
//   - a host exec of a binary on a mount of its own (a tmpfs below this
//     test's directory: the walk crosses a mount) comes in the ring
//     buffer and not on the socket, with what an exec reader reads of the
//     live process from /proc: exe, comm, session, terminal, argv;
//   - so does one run from a memfd (its exe a file of no mount);
//   - one whose name is too long for a slot, and one in a mount
//     namespace of its own, come on the socket (marked, and whole) and
//     not in the ring.
func TestHostExecCapture(t *testing.T) {
	f, pre, host := hostFilterFixture(t, true)
	if err := f.follow(pre, false); err != nil {
		t.Fatal(err)
	}

	mnt := filepath.Join(t.TempDir(), "a mount")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=16m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(mnt, "sub", "napper")
	long := filepath.Join(mnt, "sub", strings.Repeat("n", capNameSlot))
	if err := os.Mkdir(filepath.Dir(short), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{short, long} {
		if err := os.WriteFile(p, bin, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	start := func(path string, ns bool, args ...string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command(path, args...)
		if ns {
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", path, err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		return cmd
	}
	// A binary run from a memfd (fileless): its exe reads
	// "/memfd:NAME (deleted)", which the reader trims.
	mfd, err := unix.MemfdCreate("ruled-capture", 0)
	if err != nil {
		t.Fatal(err)
	}
	memfd := os.NewFile(uintptr(mfd), "memfd")
	defer memfd.Close()
	if _, err := memfd.Write(bin); err != nil {
		t.Fatal(err)
	}

	captured := start(short, false, "30", "1")
	fileless := exec.Command("/proc/self/fd/3", "30")
	fileless.ExtraFiles = []*os.File{memfd}
	if err := fileless.Start(); err != nil {
		t.Fatalf("start from a memfd: %v", err)
	}
	t.Cleanup(func() {
		_ = fileless.Process.Kill()
		_ = fileless.Wait()
	})
	cut := start(long, false, "30")
	own := start(short, true, "30")

	// What an exec reader reads of each live process.
	s := New(Config{ReadExec: true})
	var r execReader
	var w recordBuilder
	deadline := time.Now().Add(5 * time.Second)
	read := func(pid int, name string) execInfo {
		for {
			in := s.readAtExec(&r, &w, execKey{pid: int32(pid)}, true)
			if in.name == name || time.Now().After(deadline) {
				in.mnt = host
				return in // exec'd (before, the Go child's comm is the test's)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wants := map[int]execInfo{
		captured.Process.Pid: read(captured.Process.Pid, "napper"),
		fileless.Process.Pid: read(fileless.Process.Pid, "3"),
	}

	cache := newPrefetchCache()
	got := map[int32]execInfo{}
	for time.Now().Before(deadline) && len(got) < len(wants) {
		f.capture.drain(cache, host)
		cache.mu.Lock()
		for k, v := range cache.m {
			got[k.pid] = v
		}
		cache.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	for pid, want := range wants {
		in, ok := got[int32(pid)]
		if !ok {
			t.Errorf("host exec of pid %d (%s) not captured; ring had %v", pid, want.exe, got)
			continue
		}
		if in.exe != want.exe || in.name != want.name || in.sid != want.sid || in.tty != want.tty ||
			!slices.Equal(in.args, want.args) || !in.complete || !in.readExec || in.mnt != host {
			t.Errorf("captured %+v\nan exec reader reads %+v", in, want)
		}
	}
	if in := got[int32(captured.Process.Pid)]; in.exe != short {
		t.Errorf("captured exe %q, want %q", in.exe, short)
	}
	if in := got[int32(fileless.Process.Pid)]; in.exe != "/memfd:ruled-capture" {
		t.Errorf("captured exe of a memfd %q, want /memfd:ruled-capture", in.exe)
	}
	for _, c := range []*exec.Cmd{cut, own} {
		if _, ok := got[int32(c.Process.Pid)]; ok {
			t.Errorf("%s (pid %d) captured; want it left to a reader", c.Path, c.Process.Pid)
		}
	}

	// The socket: the two left to a reader, marked and whole; not the
	// captured one.
	onPre := map[int32]bool{}
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(pre.fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			break
		}
		b := buf[:n]
		marked := unmarkHostExec(b)
		eachMessage(b, func(m []byte) {
			if p, err := parseProcEvent(m); err == nil && p.What == WhatExec {
				onPre[p.TGID] = marked
			}
		}, func() { t.Errorf("malformed %d-byte datagram", n) })
	}
	if _, ok := onPre[int32(captured.Process.Pid)]; ok {
		t.Errorf("captured exec also on the exec-only socket")
	}
	if marked, ok := onPre[int32(cut.Process.Pid)]; !ok || !marked {
		t.Errorf("exec of a name too long for a slot: on the socket %v, marked %v; want marked", ok, marked)
	}
	if marked, ok := onPre[int32(own.Process.Pid)]; !ok || marked {
		t.Errorf("exec in its own mount namespace: on the socket %v, marked %v; want whole", ok, marked)
	}
}
