package netns

import (
	"cmp"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
)

// Entry is one socket of a Snapshot with the processes holding it.
type Entry struct {
	Socket
	NetNS uint64
	PIDs  []int // ascending; empty for sockets no process holds (TIME_WAIT)
}

// Snapshot lists every socket of every network namespace on the host: it
// walks /proc/*/ns/net, reads each namespace's tables once (through the
// first of its processes that can be read) and joins the socket inodes of
// every process's fds. Processes that vanish meanwhile are skipped. read
// lists one namespace given one of its pids (ReadLive on a live host); nil
// means ReadTables over proc.
func Snapshot(proc fs.FS, read func(pid int) ([]Socket, error)) ([]Entry, error) {
	if read == nil {
		read = func(pid int) ([]Socket, error) { return ReadTables(proc, pid) }
	}
	ents, err := fs.ReadDir(proc, ".")
	if err != nil {
		return nil, fmt.Errorf("read proc: %w", err)
	}
	nsPIDs := map[uint64][]int{}
	holders := map[uint64][]int{} // socket inode -> pids
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		ino, err := NetNS(proc, pid)
		if err != nil {
			continue
		}
		nsPIDs[ino] = append(nsPIDs[ino], pid)
		for sock := range PIDInodes(proc, pid) {
			holders[sock] = append(holders[sock], pid)
		}
	}
	var out []Entry
	for ino, pids := range nsPIDs {
		for _, pid := range pids {
			socks, err := read(pid)
			if err != nil {
				continue
			}
			for _, s := range socks {
				var hs []int
				if s.Inode != 0 {
					hs = holders[s.Inode]
					slices.Sort(hs)
				}
				out = append(out, Entry{Socket: s, NetNS: ino, PIDs: hs})
			}
			break
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(
			cmp.Compare(a.NetNS, b.NetNS),
			cmp.Compare(a.Kind, b.Kind),
			a.Local.Compare(b.Local),
			a.Remote.Compare(b.Remote),
			cmp.Compare(a.Inode, b.Inode),
		)
	})
	return out, nil
}
