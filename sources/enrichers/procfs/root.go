package procfs

import (
	"os"
	"path/filepath"
	"strconv"
)

// OwnRoot reports whether pid's root directory is no longer the host's:
// a container's process after runc's pivot_root, not yet runc init before
// it. The host's root is init's; where init cannot be inspected (a VM's own
// init may refuse even root), kthreadd's, else the caller's own. procRoot is where proc is
// mounted ("/proc").
func OwnRoot(procRoot string, pid int) bool {
	host, err := os.Stat(filepath.Join(procRoot, "1", "root"))
	if err != nil {
		// kthreadd shares init's root; it answers where init does not,
		// and unlike self it is the host's also when ruled runs in a
		// container.
		if host, err = os.Stat(filepath.Join(procRoot, "2", "root")); err != nil {
			if host, err = os.Stat(filepath.Join(procRoot, "self", "root")); err != nil {
				return false
			}
		}
	}
	fi, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid), "root"))
	return err == nil && fi.IsDir() && !os.SameFile(fi, host)
}
