package inspect

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"syscall"
	"time"
)

// Change kinds, as `docker diff` spells them.
const (
	Added   = "A"
	Changed = "C"
	Deleted = "D"
)

// Change is one entry of a container's writable layer.
type Change struct {
	Kind       string    `json:"kind"` // A, C or D
	Path       string    `json:"path"` // absolute, inside the container
	Type       string    `json:"type"` // file, dir, symlink, other; "" for D
	Size       int64     `json:"size"`
	Mode       string    `json:"mode,omitempty"`
	MTime      time.Time `json:"mtime,omitzero"`
	Executable bool      `json:"executable"`
}

// DefaultMaxChanges bounds a change list: a container that unpacked a
// source tree must not turn the report into megabytes.
const DefaultMaxChanges = 5000

// Changes walks an overlay upper directory and lists what it holds relative
// to the lower layers: an entry absent from every lower layer was added
// (A), one present was changed (C), and a whiteout (a 0/0 character
// device, overlayfs(5)) marks a lower entry as deleted (D). lowers are the
// lower layers, any order; a nil or empty list makes every entry A. At
// most max entries are returned (0: DefaultMaxChanges); more reports how
// many were left out.
func Changes(upper fs.FS, lowers []fs.FS, max int) (list []Change, more int, err error) {
	if max <= 0 {
		max = DefaultMaxChanges
	}
	inLower := func(p string) bool {
		for _, l := range lowers {
			if _, err := fs.Lstat(l, p); err == nil {
				return true
			}
		}
		return false
	}
	err = fs.WalkDir(upper, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			return nil // a file removed during the walk
		}
		if p == "." {
			return nil
		}
		if len(list) >= max {
			more++
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		c := Change{Path: "/" + p, MTime: fi.ModTime().UTC()}
		if isWhiteout(fi) {
			c.Kind = Deleted
			c.MTime = time.Time{}
			list = append(list, c)
			return nil
		}
		c.Kind = Added
		if inLower(p) {
			c.Kind = Changed
		}
		c.Size = fi.Size()
		c.Mode = fi.Mode().String()
		switch {
		case fi.Mode().IsRegular():
			c.Type = "file"
			c.Executable = fi.Mode()&0o111 != 0 || hasExecMagic(upper, p)
		case fi.IsDir():
			c.Type = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			c.Type = "symlink"
		default:
			c.Type = "other"
		}
		list = append(list, c)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("walk upper layer: %w", err)
	}
	return list, more, nil
}

// isWhiteout reports overlay's deletion mark: a character device whose
// device number is 0/0. Without the raw stat (a test's fs), any character
// device counts.
func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Rdev == 0
	}
	return true
}

// hasExecMagic reports a file that starts like an ELF binary or a script:
// dropped payloads are often written without the execute bit and run
// through an interpreter or chmod'ed later.
func hasExecMagic(fsys fs.FS, p string) bool {
	f, err := fsys.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	n, err := io.ReadFull(f, b[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	s := string(b[:n])
	return s == "\x7fELF" || len(s) >= 2 && s[:2] == "#!"
}

// cleanAbs turns an absolute container path into an fs.FS path.
func cleanAbs(p string) string {
	p = path.Clean("/" + p)
	if p == "/" {
		return "."
	}
	return p[1:]
}
