package procfs

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestPidIDsMatchStatus reads every live process's ids through a pidfd
// (PIDFD_GET_INFO) and from its status file: the two must agree, and so
// must the pid inside its namespace, which the pidfd read takes as the pid
// only in our own pid namespace. On a kernel without PIDFD_GET_INFO the
// reader falls back to status, which this also checks.
func TestPidIDsMatchStatus(t *testing.T) {
	r := New(Dir("/proc"))
	if r.getsid == nil {
		t.Skip("not the /proc of our pid namespace")
	}
	if r.pidIDs == nil || r.ownPidNS == 0 {
		t.Fatal("the live /proc reader has no pidfd id reader or no pid namespace of its own")
	}
	if _, _, _, _, err := pidIDs(os.Getpid()); err != nil {
		t.Logf("PIDFD_GET_INFO not available (%v): the reader reads status", err)
	}
	eachLiveStatus(t, r, FieldStatus|FieldNSPid, func(pid int, p Process, ss, again Status) bool {
		if again.UID != ss.UID || again.EUID != ss.EUID || again.GID != ss.GID || again.EGID != ss.EGID {
			return false // changed meanwhile
		}
		if p.UID != ss.UID || p.EUID != ss.EUID || p.GID != ss.GID || p.EGID != ss.EGID || p.TGID != ss.TGID || p.VPID != ss.VPID() {
			t.Errorf("pid %d: read uid %d euid %d gid %d egid %d tgid %d vpid %d; status %d %d %d %d %d %d",
				pid, p.UID, p.EUID, p.GID, p.EGID, p.TGID, p.VPID, ss.UID, ss.EUID, ss.GID, ss.EGID, ss.TGID, ss.VPID())
		}
		return true
	})
	if rec := New(Dir("testdata/proc")); rec.pidIDs != nil {
		t.Error("a recorded /proc tree reads ids through pidfds")
	}
	if _, err := r.ProcessFields(999999, FieldStatus); !errors.Is(err, ErrGone) {
		t.Errorf("gone pid: err = %v, want ErrGone", err)
	}
}

// TestPidIDsOtherPidNamespace: a process in a pid namespace of its own
// (as root: a child cloned with CLONE_NEWPID) is pid 1 there; the pidfd
// read must take that from status, not report its host pid.
func TestPidIDsOtherPidNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: this test needs root (CLONE_NEWPID)")
		}
		t.Skip("needs root to clone a pid namespace")
	}
	r := New(Dir("/proc"))
	if r.getsid == nil {
		t.Skip("not the /proc of our pid namespace")
	}
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	p, err := r.ProcessFields(pid, FieldStatus|FieldNS)
	if err != nil {
		t.Fatal(err)
	}
	if p.VPID != 1 || p.TGID != pid || p.UID != 0 || p.EUID != 0 {
		t.Errorf("pid %d in a new pid namespace: vpid %d tgid %d uid %d euid %d; want vpid 1, tgid %d, uid 0",
			pid, p.VPID, p.TGID, p.UID, p.EUID, pid)
	}
	if p.NS.PID == 0 || p.NS.PID == r.ownPidNS || p.NS.Mnt == 0 {
		t.Errorf("namespaces %+v (ours: pid %d)", p.NS, r.ownPidNS)
	}
}
