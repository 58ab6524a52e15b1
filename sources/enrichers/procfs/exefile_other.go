//go:build !linux

package procfs

import "io/fs"

// exeFileOf: the stat layout is Linux's; elsewhere the executable's inode
// stays unknown.
func exeFileOf(fs.FileInfo) (ExeFile, bool) { return ExeFile{}, false }
