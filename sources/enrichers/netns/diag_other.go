//go:build !linux

package netns

import "os"

// ReadLive lists pid's namespace through /proc/PID/net/* (sock_diag is
// Linux-only, and so is /proc; this keeps the package building elsewhere).
func ReadLive(pid int) ([]Socket, error) {
	return ReadTables(os.DirFS("/proc"), pid)
}
