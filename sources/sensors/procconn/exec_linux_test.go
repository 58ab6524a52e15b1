package procconn

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources/enrichers/procfs"
)

// TestExecReaderRead reads this process as an exec reader reads an exec:
// its executable, argv, and from stat its name, session and terminal, as
// the kernel reports them elsewhere; a pid that does not exist reads
// nothing.
func TestExecReaderRead(t *testing.T) {
	s := New(Config{ReadExec: true})
	var r execReader
	var w recordBuilder
	in := s.readAtExec(&r, &w, execKey{pid: int32(os.Getpid())}, false)
	want, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	if !in.readExec || !in.complete || in.exe != want || in.name != strings.TrimSuffix(string(comm), "\n") || in.sid != sid {
		t.Errorf("read: %+v; want exe %q comm %q sid %d", in, want, strings.TrimSuffix(string(comm), "\n"), sid)
	}
	if !slices.Equal(in.args, os.Args) {
		t.Errorf("argv %q, want %q", in.args, os.Args)
	}
	if in := s.readAtExec(&r, &w, execKey{pid: 1 << 30}, false); in.complete || in.exe != "" || in.name != "" || in.args != nil {
		t.Errorf("pid that does not exist: %+v", in)
	}
	// Audit brings the exec: nothing of it is read.
	s = New(Config{ReadExec: true, ExecFromAudit: func() bool { return true }})
	if in := s.readAtExec(&r, &w, execKey{pid: int32(os.Getpid())}, false); in.readExec || in.exe != "" {
		t.Errorf("exec from audit: %+v", in)
	}
}

// TestReadAtExecMountNamespace: the exec thread reads the mount namespace
// and skips the cgroup of a process in the host's (HostMountNS); another
// namespace, or none configured, reads the cgroup as before.
func TestReadAtExecMountNamespace(t *testing.T) {
	l, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	own := procfs.NSInode(l)
	if own == 0 {
		t.Fatalf("mount namespace link %q", l)
	}
	for _, tt := range []struct {
		name   string
		host   uint64
		mnt    uint64
		cgroup bool
	}{
		{"ours is the host's: no cgroup read", own, own, false},
		{"another namespace than the host's: cgroup read", own + 1, own, true},
		{"host namespace unknown: cgroup read, namespace not read", 0, 0, true},
	} {
		var got []byte
		s := New(Config{HostMountNS: tt.host, ContainerOf: func(b []byte) string {
			got = append([]byte(nil), b...)
			return "c1"
		}})
		var r execReader
		var w recordBuilder
		in := s.readAtExec(&r, &w, execKey{pid: int32(os.Getpid())}, false)
		if in.mnt != tt.mnt || in.hasCID != tt.cgroup || (got != nil) != tt.cgroup {
			t.Errorf("%s: mnt %d hasCID %v cgroup read %v; want %d %v", tt.name, in.mnt, in.hasCID, got != nil, tt.mnt, tt.cgroup)
		}
		if tt.cgroup && (in.cid != "c1" || !strings.Contains(string(got), ":/")) {
			t.Errorf("%s: cid %q from %q", tt.name, in.cid, got)
		}
	}
	// Both ways to the namespace agree.
	var viaLink execReader
	viaLink.nsLink = true
	if got := viaLink.mountNS(os.Getpid()); got != own {
		t.Errorf("mount namespace through the link: %d, want %d", got, own)
	}
	var viaPidfd execReader
	// (A kernel before 6.11 has no PIDFD_GET_MNT_NAMESPACE: the link.)
	if got := viaPidfd.mountNS(os.Getpid()); got != own {
		t.Errorf("mount namespace through a pidfd: %d (fell back to the link: %v), want %d", got, viaPidfd.nsLink, own)
	}
	// Gone: no namespace, and the cgroup read finds nothing either.
	s := New(Config{HostMountNS: own, ContainerOf: func([]byte) string { return "c1" }})
	var r execReader
	var w recordBuilder
	if in := s.readAtExec(&r, &w, execKey{pid: 1 << 30}, false); in.mnt != 0 || in.hasCID {
		t.Errorf("pid that does not exist: %+v", in)
	}
}

// TestExecReaderStdio: an exec reader's read of fds 0-2 (with the cgroup)
// classifies each as the process table's reader does, and a gone process
// reads as none.
func TestExecReaderStdio(t *testing.T) {
	s := New(Config{ContainerOf: func([]byte) string { return "c1" }})
	var r execReader
	var w recordBuilder
	in := s.readAtExec(&r, &w, execKey{pid: int32(os.Getpid())}, false)
	for fd, s := range in.stdio {
		l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		want := procfs.Stdio{Type: "none"}
		if err == nil {
			want = procfs.ClassifyFD(l)
		}
		if s != want {
			t.Errorf("fd %d: %+v, want %+v", fd, s, want)
		}
	}
	if gone := s.readAtExec(&r, &w, execKey{pid: 1 << 30}, false); gone.stdio != ([3]procfs.Stdio{}) || gone.hasCID {
		t.Errorf("pid that does not exist: %+v", gone)
	}
}

// TestHoldMountNS: the host's mount namespace is held open when init's or
// this process's is it, and not when the inode named is another.
func TestHoldMountNS(t *testing.T) {
	l, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	own := procfs.NSInode(l)
	fd := holdMountNS(own)
	if fd < 0 {
		t.Fatalf("own mount namespace %d not held", own)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Ino != own {
		t.Errorf("held descriptor: inode %d, %v; want %d", st.Ino, err, own)
	}
	unix.Close(fd)
	if fd := holdMountNS(own + 1); fd >= 0 {
		unix.Close(fd)
		t.Errorf("a namespace that is neither init's nor ours was held")
	}
}
