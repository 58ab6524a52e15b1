package audit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources/enrichers/container"
)

// A container's credential files are other inodes than the host's, so the
// path= watches need a copy per container (see containers.go). Asked for at
// the container's first event, the copies come milliseconds after its
// entrypoint started: `docker run IMAGE cat /etc/shadow` was over by then.
// But the runtime mounts the container's root overlay before it creates the
// container's first process (dockerd mounts overlay2's merged directory,
// then runc creates and starts the container in it), and the mount table
// tells: poll(2) on a mountinfo file wakes on every mount. watchMounts adds
// the copies rooted at each new overlay mount, where the container's
// processes will open the very same inodes.

// mountTable returns the mountinfo file that lists the runtimes' mounts and
// the prefix that leads from ruled's root to that table's mountpoints: the
// host's, read through init (or kthreadd, where a VM's init refuses even
// root, as this test VM's does; kernel threads share init's root), which
// also serves ruled in a container sharing the host's pid namespace; plain
// paths when ruled is in the host's mount namespace itself.
func mountTable() (mountinfo, prefix string) {
	self, _ := os.Readlink("/proc/self/ns/mnt")
	for _, anchor := range []string{"/proc/1", "/proc/2"} {
		if _, err := os.Stat(anchor + "/root/"); err != nil {
			continue
		}
		if ns, err := os.Readlink(anchor + "/ns/mnt"); err == nil && ns == self {
			break
		}
		return anchor + "/mountinfo", anchor + "/root"
	}
	return "/proc/self/mountinfo", ""
}

// watchMounts asks for the path= copies of every overlay mount that appears
// in the host's mount table, until ctx ends.
func (s *Source) watchMounts(ctx context.Context) {
	table, prefix := mountTable()
	f, err := openUnpolled(table)
	if err != nil {
		s.logger.Warn("container audit watches at mount time: host mount table unreadable; copies come with each container's first events", "error", err)
		return
	}
	defer f.Close()
	seen := map[string]string{} // mountpoint -> mount id and upperdir
	first := true
	buf := make([]byte, 0, 64<<10)
	for ctx.Err() == nil {
		buf, err = readAt0(f, buf)
		if err != nil {
			s.logger.Warn("read host mount table", "error", err)
			return
		}
		mounts, err := container.ParseMountinfo(bytes.NewReader(buf))
		if err != nil {
			s.logger.Warn("parse host mount table", "error", err)
			return
		}
		now, fresh := newOverlays(seen, mounts, func(mountPoint string) uint64 { return mountUniqueID(prefix + mountPoint) })
		s.overlays.Store(overlayRoots(mounts, prefix))
		if !first {
			// Mounts already there at start belong to running
			// containers, whose events ask for their copies (and the
			// warm-up does).
			for _, m := range fresh {
				s.watchRoot(prefix+m.MountPoint, m.Upper)
			}
		}
		seen, first = now, false
		if err := waitMountChange(f, ctx); err != nil {
			s.logger.Warn("wait for host mount changes", "error", err)
			return
		}
	}
}

// mountUniqueID returns the kernel's unique id of the mount path lies on (of
// a mountpoint, the mount on top), or 0 when the kernel has none (before
// Linux 6.8) or path is gone.
func mountUniqueID(path string) uint64 {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_DONT_SYNC|unix.AT_NO_AUTOMOUNT, unix.STATX_MNT_ID_UNIQUE, &stx); err != nil {
		return 0
	}
	if stx.Mask&unix.STATX_MNT_ID_UNIQUE == 0 {
		return 0
	}
	return stx.Mnt_id
}

// openUnpolled opens a mount table for reading, kept out of Go's network
// poller. os.Open registers a file that supports poll(2) with the runtime's
// epoll set, and a mountinfo file does: the kernel then checks the file for
// that epoll set at each mount, and its check consumes the change it
// reports (the file remembers the last mount event it told of). When the
// runtime's epoll_wait ran before waitMountChange's poll, the change went
// to the runtime, which ignores it, and the mount went unseen until the
// next one: measured, 1 of 3 stop-remount-continue cycles of the agent.
// A blocking descriptor given to os.NewFile is never registered.
func openUnpolled(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// readAt0 reads the whole file from its start into buf.
func readAt0(f *os.File, buf []byte) ([]byte, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return buf, err
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// waitMountChange blocks until the mount table of f changes (the kernel
// flags a mountinfo file POLLPRI|POLLERR on every mount and unmount of its
// namespace) or ctx ends; it wakes twice a second to check ctx.
func waitMountChange(f *os.File, ctx context.Context) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		var n int
		var perr error
		if err := rc.Control(func(fd uintptr) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
			n, perr = unix.Poll(fds, 500)
		}); err != nil {
			return err
		}
		if perr != nil && !errors.Is(perr, unix.EINTR) {
			return perr
		}
		if n > 0 {
			return nil
		}
	}
	return nil
}
