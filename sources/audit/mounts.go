package audit

import "github.com/ruled/ruled/sources/container"

// overlayMount is an overlay in a mount table: where it is mounted and its
// writable layer (what identifies a container's filesystem).
type overlayMount struct {
	MountPoint, Upper string
}

// newOverlays returns the overlay mounts of mounts (mountpoint -> upperdir)
// and those of them seen does not hold, in mount order: what was mounted
// since the mount table was last read. A mountpoint mounted again with
// another upperdir is new.
func newOverlays(seen map[string]string, mounts []container.Mount) (map[string]string, []overlayMount) {
	now := make(map[string]string, len(seen)+1)
	var fresh []overlayMount
	for _, m := range mounts {
		upper, ok := m.SuperOption("upperdir")
		if m.FSType != "overlay" || !ok {
			continue
		}
		now[m.MountPoint] = upper
		if up, ok := seen[m.MountPoint]; ok && up == upper {
			continue
		}
		fresh = append(fresh, overlayMount{m.MountPoint, upper})
	}
	return now, fresh
}
