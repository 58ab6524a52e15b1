package audit

import "testing"

// TestMountUniqueID: the id names the mount a path resolves to, through
// /proc/PID/root as through the path itself, and differs between mounts.
func TestMountUniqueID(t *testing.T) {
	root := mountUniqueID("/")
	if root == 0 {
		t.Skip("this kernel gives no unique mount id (Linux 6.8 on); mount ids are used instead")
	}
	if got := mountUniqueID("/proc/self/root"); got != root {
		t.Errorf("/proc/self/root: %d, want the id of / %d", got, root)
	}
	if got := mountUniqueID("/proc/self"); got == 0 || got == root {
		t.Errorf("/proc/self (procfs): %d, want an id of its own, not %d", got, root)
	}
	if got := mountUniqueID("/nonexistent/ruled"); got != 0 {
		t.Errorf("missing path: %d, want 0", got)
	}
}
