package container

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxMountinfo bounds what ParseRootOverlay reads; a container's mountinfo
// is a few kilobytes, a busy host's some hundred.
const maxMountinfo = 4 << 20

// ParseRootOverlay parses /proc/PID/mountinfo (proc(5)) and returns the
// upperdir of the mount at "/" when it is an overlay: the writable layer
// Docker, containerd and CRI-O give a container. ok is false when "/" is not
// an overlay (a host process) or names no upperdir.
func ParseRootOverlay(r io.Reader) (upperdir string, ok bool, err error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMountinfo))
	if err != nil {
		return "", false, fmt.Errorf("read mountinfo: %w", err)
	}
	upper, ok := parseRootOverlay(b)
	return upper, ok, nil
}

func parseRootOverlay(b []byte) (string, bool) {
	upper, found := "", false
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		// "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS"
		pre, post, ok := bytes.Cut(line, []byte(" - "))
		if !ok {
			continue
		}
		f := bytes.Fields(pre)
		if len(f) < 5 || string(f[4]) != "/" {
			continue
		}
		g := bytes.Fields(post)
		if len(g) < 3 || string(g[0]) != "overlay" {
			// A later mount on "/" hides an earlier overlay.
			upper, found = "", false
			continue
		}
		upper, found = superOption(g[2], "upperdir")
	}
	return upper, found
}

// superOption returns one key=value of overlay's comma-separated super
// options. mountinfo escapes space, tab, newline and backslash as \ooo
// octal; ',' inside a path is not escaped by the kernel, but Docker's
// overlay2 paths never contain one.
func superOption(opts []byte, key string) (string, bool) {
	for len(opts) > 0 {
		var o []byte
		if i := bytes.IndexByte(opts, ','); i >= 0 {
			o, opts = opts[:i], opts[i+1:]
		} else {
			o, opts = opts, nil
		}
		k, v, ok := bytes.Cut(o, []byte("="))
		if ok && string(k) == key && len(v) > 0 {
			return unescapeOctal(string(v)), true
		}
	}
	return "", false
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			sb.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Mount is one line of /proc/PID/mountinfo.
type Mount struct {
	ID, Parent int
	Dev        string // major:minor of the file system
	Root       string // the path inside the file system mounted here (a bind's source)
	MountPoint string
	Options    string // per-mount options (rw,nosuid ...)
	FSType     string
	Source     string
	SuperOpts  string
}

// SuperOption returns one key=value of the super options (overlay's
// upperdir, lowerdir ...).
func (m Mount) SuperOption(key string) (string, bool) {
	return superOption([]byte(m.SuperOpts), key)
}

// ParseMountinfo parses /proc/PID/mountinfo (proc(5)), in mount order.
// Lines that are not mountinfo lines are skipped.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMountinfo))
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	var out []Mount
	for line := range strings.Lines(string(b)) {
		pre, post, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if len(f) < 6 || len(g) < 2 {
			continue
		}
		m := Mount{
			Dev: f[2], Root: unescapeOctal(f[3]), MountPoint: unescapeOctal(f[4]), Options: f[5],
			FSType: g[0], Source: unescapeOctal(g[1]),
		}
		m.ID, _ = strconv.Atoi(f[0])
		m.Parent, _ = strconv.Atoi(f[1])
		if len(g) > 2 {
			m.SuperOpts = g[2]
		}
		out = append(out, m)
	}
	return out, nil
}
