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

// newOverlays returns the overlay mounts of mounts (mountpoint -> mount id
// and upperdir) and those of them seen does not hold, in mount order: what
// was mounted since the mount table was last read. A mount is known by its
// id, so an unmount and a mount at the same place between two reads (Docker
// mounts a container's root at create and again at start) is new: the
// kernel dropped the watches of the first with its inodes.
func newOverlays(seen map[string]string, mounts []container.Mount) (map[string]string, []overlayMount) {
	now := make(map[string]string, len(seen)+1)
	var fresh []overlayMount
	for _, m := range mounts {
		upper, ok := m.SuperOption("upperdir")
		if m.FSType != "overlay" || !ok {
			continue
		}
		key := strconv.Itoa(m.ID) + " " + upper
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
