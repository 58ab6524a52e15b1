package procconn

import (
	"bytes"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/sources/event"
)

// execReader reads an exec'd process's executable, stat, argv, mount
// namespace and cgroup straight from
// /proc as the proc connector's message is received: a quick process is
// often gone by the time its event has waited in the pipeline's queue, and
// the proc connector's exec event carries only pids. Used from the receive
// goroutine only.
//
// The reads are raw syscalls (one readlink, one open/read/close, a few
// microseconds): /proc files do not block, and an ordinary syscall may hand
// the goroutine's P to another thread, after which the high-priority
// receive thread waits for a P behind threads an exec storm preempts.
// atFDCWD is AT_FDCWD (-100) as a syscall argument.
var atFDCWD = uintptr(^uint(99))

type execReader struct {
	path []byte
	buf  [4096]byte
	// nsLink: the kernel has no PIDFD_GET_MNT_NAMESPACE; mountNS reads
	// the ns/mnt link.
	nsLink bool
}

// read returns the executable of pid and its stat (name, session,
// terminal), each empty when it could no longer be read. The executable
// goes first: it disappears at exit, while stat stays readable until the
// parent reaps the zombie. Stat rather than comm: one file that also
// brings what the process table would read stat for (~1-2 µs more than
// comm, one file less per exec in all).
func (r *execReader) read(pid int) (exe string, st procfs.Stat, ok bool) {
	r.dir(pid)
	if b, errno := r.readLink("/exe"); errno == 0 && len(b) > 0 {
		// A deleted executable reads "/path (deleted)"; rules match the
		// path (as procfs.Reader does).
		exe = string(bytes.TrimSuffix(b, []byte(" (deleted)")))
	}
	if b := r.readFile("/stat", len(r.buf)); len(b) > 0 {
		if s, err := procfs.ParseStatBytes(b); err == nil {
			st, ok = s, true
		}
	}
	return exe, st, ok
}

// args returns the argv of pid, or nil when it is gone or longer than one
// read (the process table then reads it whole while the process lives).
func (r *execReader) args(pid int) []string {
	r.dir(pid)
	b := r.readFile("/cmdline", len(r.buf))
	if len(b) == 0 || len(b) == len(r.buf) {
		return nil
	}
	return procfs.ParseCmdline(b)
}

// pidfdGetMntNamespace is PIDFD_GET_MNT_NAMESPACE, _IO(PIDFS_IOCTL_MAGIC
// 0xFF, 3) (Linux 6.11): a descriptor of the process's mount namespace.
const pidfdGetMntNamespace = 0xFF<<8 | 3

// mountNS returns the inode of pid's mount namespace, or 0 when it is gone
// (an exited process has none, even unreaped). Through a pidfd (open, one
// ioctl, fstat): no /proc dentries to build for a process /proc has not
// shown yet, 9-11 µs p50 and 12-14 µs p90 against the ns/mnt readlink's
// 15-17 and 55 µs, idle and during an exec storm; the readlink on kernels
// without the ioctl.
func (r *execReader) mountNS(pid int) uint64 {
	if !r.nsLink {
		pfd, _, errno := unix.RawSyscall(unix.SYS_PIDFD_OPEN, uintptr(pid), 0, 0)
		switch errno {
		case 0:
			nfd, _, errno := unix.RawSyscall(unix.SYS_IOCTL, pfd, pidfdGetMntNamespace, 0)
			unix.RawSyscall(unix.SYS_CLOSE, pfd, 0, 0)
			switch errno {
			case 0:
				var st unix.Stat_t
				_, _, errno = unix.RawSyscall(unix.SYS_FSTAT, nfd, uintptr(unsafe.Pointer(&st)), 0)
				unix.RawSyscall(unix.SYS_CLOSE, nfd, 0, 0)
				if errno != 0 {
					return 0
				}
				return st.Ino
			case unix.ENOTTY, unix.EINVAL:
				r.nsLink = true // no such ioctl (before 6.11)
			default:
				return 0
			}
		case unix.ENOSYS:
			r.nsLink = true
		default:
			return 0
		}
	}
	r.dir(pid)
	b, errno := r.readLink("/ns/mnt")
	if errno != 0 {
		return 0
	}
	return procfs.NSInode(string(b))
}

// stdio classifies the links of pid's descriptors 0-2: type "none" for a
// closed one, zero when the process is gone.
func (r *execReader) stdio(pid int) [3]procfs.Stdio {
	var out [3]procfs.Stdio
	r.dir(pid)
	for fd, name := range [3]string{"/fd/0", "/fd/1", "/fd/2"} {
		b, errno := r.readLink(name)
		switch errno {
		case 0:
			out[fd] = procfs.ClassifyFD(string(b))
		case unix.ENOENT:
			out[fd] = procfs.Stdio{Type: event.StdioNone}
		}
	}
	if out[0].Type == event.StdioNone && out[1].Type == event.StdioNone && out[2].Type == event.StdioNone {
		// All three missing: more likely the process is gone than that
		// it closed them all.
		return [3]procfs.Stdio{}
	}
	return out
}

// cgroup returns the content of /proc/PID/cgroup (valid until the next
// call), or nil when the process is gone.
func (r *execReader) cgroup(pid int) []byte {
	r.dir(pid)
	return r.readFile("/cgroup", len(r.buf))
}

// dir sets r.path to the process directory of pid, which readFile and
// readLink take their names under.
func (r *execReader) dir(pid int) {
	r.path = append(r.path[:0], "/proc/"...)
	r.path = strconv.AppendInt(r.path, int64(pid), 10)
}

// readLink returns the target of the link name under the process
// directory in r.path (valid until the next read), or the error;
// ENAMETOOLONG for a target that does not fit r.buf.
func (r *execReader) readLink(name string) ([]byte, unix.Errno) {
	dir := len(r.path)
	r.path = append(append(r.path, name...), 0)
	n, _, errno := unix.RawSyscall6(unix.SYS_READLINKAT, atFDCWD, uintptr(unsafe.Pointer(&r.path[0])),
		uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)), 0, 0)
	r.path = r.path[:dir]
	switch {
	case errno != 0:
		return nil, errno
	case int(n) >= len(r.buf):
		return nil, unix.ENAMETOOLONG
	}
	return r.buf[:n], 0
}

// readFile reads up to max bytes of the file name under the process
// directory in r.path (one read: /proc files of this size come whole).
func (r *execReader) readFile(name string, max int) []byte {
	dir := len(r.path)
	r.path = append(append(r.path, name...), 0)
	fd, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&r.path[0])),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	r.path = r.path[:dir]
	if errno != 0 {
		return nil
	}
	n, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(max))
	unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	if errno != 0 {
		return nil
	}
	return r.buf[:n]
}
