package procfs

import (
	"io/fs"
	"syscall"
	"time"
)

// exeFileOf takes the inode, times, mode and owner from a stat of the
// executable; false when fi carries no stat (a test tree).
func exeFileOf(fi fs.FileInfo) (ExeFile, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ExeFile{}, false
	}
	return ExeFile{
		Ino:   st.Ino,
		Ctime: time.Unix(st.Ctim.Unix()),
		Mtime: time.Unix(st.Mtim.Unix()),
		Mode:  st.Mode & 0o7777,
		UID:   int(st.Uid),
		GID:   int(st.Gid),
	}, true
}
