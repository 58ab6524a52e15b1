//go:build !linux

package procfs

import "errors"

var errNoPidInfo = errors.New("pidfd info not available")

// pidIDs: pidfds are Linux only; the ids come from status.
func pidIDs(int) (uid, euid, gid, egid int, err error) { return 0, 0, 0, 0, errNoPidInfo }
