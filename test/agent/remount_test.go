package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/test/e2e"
)

// TestWatchFollowsRemount: Docker mounts a container's root at create and
// again at start, a few milliseconds apart, and the kernel gives the second
// mount the first one's id. An agent that read the mount table before the
// unmount and next after the mount saw one mount, kept the copies of its
// path= watches that the kernel dropped with the first mount's inodes, and
// a process of the container reading /root/.ssh/id_ed25519 went unseen
// (CI, TestScenarios/ssh-key-read). Here the agent is stopped (SIGSTOP)
// across the unmount and the mount, so it cannot read the table between
// them; a read of the watched file in the new mount must still be seen.
func TestWatchFollowsRemount(t *testing.T) {
	e2e.RequireRoot(t)
	bin := e2e.RuledBinary(t)
	e2e.SaveAudit(t)

	dir, err := os.MkdirTemp("/var/tmp", "ruled-remount-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	lower, upper, work, merged := filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{filepath.Join(lower, "etc"), upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// /etc/shadow: the default audit rules watch its reads.
	if err := os.WriteFile(filepath.Join(lower, "etc", "shadow"), []byte("root:*:1::::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	mount := func() {
		t.Helper()
		if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
			t.Fatalf("mount overlay at %s: %v", merged, err)
		}
	}
	umount := func() error { return unix.Unmount(merged, 0) }
	t.Cleanup(func() { _ = umount() })

	shadow := filepath.Join(merged, "etc", "shadow")
	a := e2e.StartAgent(t, bin, nil, "events", "-sources", "audit", "-filter", fmt.Sprintf("fd.name = %q", shadow))
	// readSeen reads shadow every 20 ms until an event of a read at or
	// after since comes, for up to d: the agent adds a new mount's copies
	// a moment after the mount.
	readSeen := func(since time.Time, d time.Duration) bool {
		for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
			if _, err := os.ReadFile(shadow); err != nil {
				t.Fatal(err)
			}
			for _, l := range a.Lines() {
				var ev struct {
					Evt struct {
						Time time.Time `json:"time"`
					} `json:"evt"`
				}
				if json.Unmarshal(l, &ev) == nil && !ev.Evt.Time.Before(since) {
					return true
				}
			}
			if !a.Running() || time.Now().After(deadline) {
				return false
			}
		}
	}

	// Mounted once the agent reads the mount table, the overlay gets
	// its copies: until then, mount it again, after a pause that lets the
	// agent read the table without it.
	ready := false
	for deadline := time.Now().Add(20 * time.Second); !ready && time.Now().Before(deadline) && a.Running(); {
		mount()
		if ready = readSeen(time.Time{}, 500*time.Millisecond); !ready {
			if err := umount(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatalf("no event of a read of %s within 20 s (agent running %v); log:\n%s", shadow, a.Running(), a.Log())
	}

	before := mountID(t, merged)
	if err := a.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, a.PID())
	err = umount()
	if err == nil {
		mount()
	}
	// The kernel's clock for the records, less a margin for the
	// millisecond they are stamped in.
	remounted := time.Now().Add(-time.Millisecond)
	if cerr := a.Cmd.Process.Signal(syscall.SIGCONT); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatalf("unmount %s: %v", merged, err)
	}
	t.Logf("mount id before the unmount %d, after the mount %d", before, mountID(t, merged))
	got := readSeen(remounted, 5*time.Second)
	if !got {
		t.Fatalf("a read of %s in the overlay mounted again while the agent was stopped was not seen within 5 s; log:\n%s", shadow, a.Log())
	}
	if code, err := a.Stop(20 * time.Second); code != 0 || err != nil {
		t.Errorf("ruled events exit after SIGTERM: %d, %v", code, err)
	}
}

// mountID returns the mount table's id of the mount at mountPoint.
func mountID(t *testing.T, mountPoint string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := container.ParseMountinfo(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	id := -1
	for _, m := range mounts {
		if m.MountPoint == mountPoint {
			id = m.ID // the last one listed is on top
		}
	}
	return id
}

// waitStopped waits until every thread of pid is stopped: SIGSTOP only
// asks, and a thread stops on its way back from the kernel.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := len(stats) > 0
		for _, p := range stats {
			b, err := os.ReadFile(p)
			if err != nil {
				continue // a thread that ended
			}
			if st, err := procfs.ParseStatBytes(b); err != nil || st.State != 'T' {
				stopped = false
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d not stopped within 5 s of SIGSTOP", pid)
		}
	}
}
