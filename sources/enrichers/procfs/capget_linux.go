package procfs

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// liveSyscalls returns the capget(2), getsid(2) and getpgid(2) readers when fsys is
// the /proc of ruled's own pid namespace (its "self" link names ruled's
// pid): all take a pid in the caller's namespace, so on any other /proc (a
// test tree, a host /proc mounted into a container) the values come from
// status and stat instead.
func liveSyscalls(d Dir) (capReader func(pid int) (eff, prm, inh uint64, err error), sidReader, pgidReader func(pid int) (int, error)) {
	self, err := d.ReadLink("self")
	if err != nil || self != strconv.Itoa(os.Getpid()) {
		return nil, nil, nil
	}
	return capget, unix.Getsid, unix.Getpgid
}

// capget reads pid's effective, permitted and inheritable sets: those of
// the thread whose id is pid, the thread group leader for a process, as
// /proc/PID/status shows them. One system call instead of reading and
// parsing the ~1.5 KiB status file the kernel formats line by line.
func capget(pid int) (eff, prm, inh uint64, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3, Pid: int32(pid)}
	var data [2]unix.CapUserData // version 3: two 32-bit halves per set
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, 0, 0, err
	}
	join := func(lo, hi uint32) uint64 { return uint64(hi)<<32 | uint64(lo) }
	return join(data[0].Effective, data[1].Effective), join(data[0].Permitted, data[1].Permitted),
		join(data[0].Inheritable, data[1].Inheritable), nil
}
