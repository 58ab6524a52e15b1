package procfs

import (
	"io/fs"
	"os"
	"syscall"
)

// Dir is a /proc directory read with plain system calls: the fs.FS of a
// live host (Dir("/proc")). The process table reads a dozen small files and
// links per exec; os.DirFS opens each through an *os.File, which on Linux
// also tries to register the descriptor with the runtime poller and stats
// it for its size: three more system calls per file than open, read and
// close, a third of the table's cost under an exec storm. Dir implements
// fs.ReadFileFS and fs.ReadLinkFS, which fs.ReadFile and fs.ReadLink use;
// everything else goes through os.DirFS.
type Dir string

var (
	_ fs.ReadFileFS = Dir("")
	_ fs.ReadLinkFS = Dir("")
)

// Open opens name like os.DirFS.
func (d Dir) Open(name string) (fs.File, error) { return os.DirFS(string(d)).Open(name) }

// Stat stats name like os.DirFS.
func (d Dir) Stat(name string) (fs.FileInfo, error) {
	return os.DirFS(string(d)).(fs.StatFS).Stat(name)
}

// Lstat stats name without following a final link, like os.DirFS.
func (d Dir) Lstat(name string) (fs.FileInfo, error) {
	return os.DirFS(string(d)).(fs.ReadLinkFS).Lstat(name)
}

func (d Dir) path(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return string(d) + "/" + name, nil
}

// ReadFile reads the whole of name: open, reads until end of file, close.
func (d Dir) ReadFile(name string) ([]byte, error) {
	p, err := d.path("readfile", name)
	if err != nil {
		return nil, err
	}
	fd, err := open(p)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer syscall.Close(fd)
	// Most /proc/PID files are small; status is ~1.5 KiB.
	b := make([]byte, 0, 2048)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// ReadLink returns the target of the link name.
func (d Dir) ReadLink(name string) (string, error) {
	p, err := d.path("readlink", name)
	if err != nil {
		return "", err
	}
	// /proc links are short (an executable's path, socket:[N]); a stack
	// buffer covers them and a full one is retried larger.
	var small [256]byte
	buf := small[:]
	for {
		n, err := syscall.Readlink(p, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		if len(buf) >= 1<<16 {
			return "", &fs.PathError{Op: "readlink", Path: name, Err: syscall.ENAMETOOLONG}
		}
		buf = make([]byte, 2*len(buf))
	}
}

// ReadInto reads the file at path into buf with open, read and close, and
// returns the bytes read: at most len(buf), so a longer file is cut (the
// caller sizes buf for what it needs). For the container resolver's
// per-exec read of /proc/PID/cgroup.
func ReadInto(path string, buf []byte) (int, error) {
	fd, err := open(path)
	if err != nil {
		return 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

func open(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}
