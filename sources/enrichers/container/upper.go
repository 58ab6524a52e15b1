package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// RootUpperDir reads /proc/PID/mountinfo and returns the host path of the
// process's writable overlay layer ("" and no error when its root is not an
// overlay).
func RootUpperDir(procRoot string, pid int) (string, error) {
	p := filepath.Join(procRoot, strconv.Itoa(pid), "mountinfo")
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	upper, _, err := ParseRootOverlay(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return upper, nil
}

// ExeUpperLayer reports whether exe (a path inside the process's mount
// namespace, as proc.exe gives it) exists in the process's writable overlay
// layer: a file written or replaced after the container started, the mark
// of drift. A host process (no overlay root) gives false.
func ExeUpperLayer(pid int, exe string) (bool, error) {
	upper, err := RootUpperDir("/proc", pid)
	if err != nil {
		return false, err
	}
	return inUpper(upper, exe)
}

// inUpper stats exe under upperdir. Only a regular file counts: overlay
// marks a deleted lower file with a 0/0 character device (whiteout) in the
// upper layer.
func inUpper(upper, exe string) (bool, error) {
	if upper == "" || !strings.HasPrefix(exe, "/") {
		return false, nil
	}
	// " (deleted)" is what the kernel appends to /proc/PID/exe of a file
	// removed after exec; the file is gone from the upper layer too.
	exe = strings.TrimSuffix(exe, " (deleted)")
	st, err := os.Lstat(filepath.Join(upper, filepath.Clean(exe)))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat upper layer: %w", err)
	}
	// An empty file cannot have been executed (execve refuses it), but a
	// bind mount onto a path that did not exist in the image leaves an
	// empty placeholder there: `-v /host/tool:/usr/local/bin/tool` is not
	// drift.
	return st.Mode().IsRegular() && st.Size() > 0, nil
}
