package procconn

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources/enrichers/procfs"
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

// appendExec reads what the event of the exec k needs while its process
// lives and appends it to w as one record (execrecord.go): exe, stat and
// cmdline when readExec; the mount namespace when hostMnt is not 0 (not
// read when host says the kernel's host exec filter found it hostMnt); and,
// when cgroup is set and the namespace is not the host's (or could not be
// read), the cgroup and the links of fds 0-2. Each piece is copied into w
// as it is read, so nothing is allocated once w has grown.
//
// The executable goes first: it disappears at exit, while stat stays
// readable until the parent reaps the zombie. Stat rather than comm: one
// file that also brings what the process table would read stat for
// (~1-2 µs more than comm, one file less per exec in all).
func (r *execReader) appendExec(w *recordBuilder, k execKey, readExec bool, hostMnt uint64, host, cgroup bool) {
	pid := int(k.pid)
	w.begin(k)
	var flags byte
	r.dir(pid)
	if readExec {
		flags |= flagReadExec
		exe, errno := r.readLink("/exe")
		if errno != 0 || len(exe) == 0 {
			exe = nil
		}
		w.piece(exe)
		w.piece(r.readFile("/stat", len(r.buf)))
		// The argv whole or not at all: one longer than a read is left
		// to the process table, which reads it whole while it lives.
		if b := r.readFile("/cmdline", len(r.buf)); len(b) < len(r.buf) {
			w.piece(b)
		} else {
			w.piece(nil)
		}
	} else {
		w.piece(nil)
		w.piece(nil)
		w.piece(nil)
	}
	var mnt uint64
	switch {
	case host && hostMnt != 0:
		mnt = hostMnt // the kernel's filter said so at the exec
	case hostMnt != 0:
		mnt = r.mountNS(pid)
	}
	var cgrp []byte
	if cgroup && (mnt == 0 || mnt != hostMnt) {
		r.dir(pid)
		cgrp = r.readFile("/cgroup", len(r.buf))
	}
	w.piece(cgrp)
	if cgrp != nil {
		flags |= flagCgroup
		for _, name := range [3]string{"/fd/0", "/fd/1", "/fd/2"} {
			b, errno := r.readLink(name)
			switch errno {
			case 0:
				w.fd(fdLink, b)
			case unix.ENOENT:
				w.fd(fdClosed, nil)
			default:
				w.fd(0, nil)
			}
		}
	} else {
		w.fd(0, nil)
		w.fd(0, nil)
		w.fd(0, nil)
	}
	w.end(flags, mnt)
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
