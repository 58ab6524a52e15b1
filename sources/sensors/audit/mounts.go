package audit

import (
	"strconv"

	"github.com/ruled/ruled/sources/enrichers/container"
)

// overlayMount is an overlay in a mount table: where it is mounted and its
// writable layer (what identifies a container's filesystem).
type overlayMount struct {
	MountPoint, Upper string
}

// newOverlays returns the overlay mounts of mounts (mountpoint -> mount
// identity and upperdir) and those of them seen does not hold, in mount
// order: what was mounted since the mount table was last read. An unmount
// and a mount at the same place between two reads is new: Docker mounts a
// container's root at create and again at start, milliseconds apart, and
// the kernel dropped the watches of the first with its inodes. The mount
// id of a mount table does not tell them apart, as the kernel gives the
// lowest free id to the next mount (measured: create's and start's mounts
// both had id 49), so unique, when it gives something other than 0 (the
// kernel's 64-bit id, never reused, since Linux 6.8), identifies a mount;
// otherwise its id does, and the remount goes unseen here: the container's
// first events ask for its copies.
func newOverlays(seen map[string]string, mounts []container.Mount, unique func(mountPoint string) uint64) (map[string]string, []overlayMount) {
	now := make(map[string]string, len(seen)+1)
	var fresh []overlayMount
	for _, m := range mounts {
		upper, ok := m.SuperOption("upperdir")
		if m.FSType != "overlay" || !ok {
			continue
		}
		key := "id " + strconv.Itoa(m.ID)
		if u := unique(m.MountPoint); u != 0 {
			key = "unique " + strconv.FormatUint(u, 10)
		}
		key += " " + upper
		now[m.MountPoint] = key
		if seen[m.MountPoint] == key {
			continue
		}
		fresh = append(fresh, overlayMount{m.MountPoint, upper})
	}
	return now, fresh
}

// overlayRoots maps the upperdir of each overlay in mounts to its mountpoint
// (under prefix, the path to the host's root from ruled's).
func overlayRoots(mounts []container.Mount, prefix string) *map[string]string {
	m := map[string]string{}
	for _, mt := range mounts {
		if upper, ok := mt.SuperOption("upperdir"); ok && mt.FSType == "overlay" {
			m[upper] = prefix + mt.MountPoint
		}
	}
	return &m
}

// overlayRoot returns where the overlay whose upperdir is upper is mounted
// in ruled's mount namespace, or "" when unknown.
func (s *Source) overlayRoot(upper string) string {
	if m := s.overlays.Load(); m != nil {
		return (*m)[upper]
	}
	return ""
}
