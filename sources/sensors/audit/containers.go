package audit

import (
	"path/filepath"
	"slices"
	"time"

	"github.com/ruled/ruled/sources/enrichers/procfs"
)

// Audit watches (path= rules) follow an inode, and a container's /etc/shadow
// is another inode than the host's: the default rules only see the host's
// files. For each container ruled sees, the installer adds a copy of every
// path= rule rooted at /proc/PID/root (see Rule.ContainerCopy). The kernel
// drops those copies by itself when the container's root is unmounted.

// containerWatch asks for a container's copies of the path= rules: of the
// container whose process pid is, or (root set) of the overlay mounted at
// root, before the container has any process.
type containerWatch struct {
	pid   int
	id    string
	tries int // retries so far while the container's root was not ready
	// root is a host path to a container's root overlay mount, upper its
	// upperdir: what identifies the container's filesystem before it has
	// an id ruled knows or any process.
	root, upper string
}

// WatchContainer asks for the container's copies of the path= rules, with
// pid one of its processes. It never blocks: a request that does not fit
// the queue is counted and dropped (the caller asks again later). Copies
// whose directory does not exist yet are added on a later request, so
// callers ask again after a write into one of WatchDirs.
func (s *Source) WatchContainer(pid int, id string) {
	if pid <= 0 || id == "" {
		return
	}
	select {
	case s.watchReq <- containerWatch{pid: pid, id: id}:
	default:
		s.watchDrops.Add(1)
	}
}

// watchRoot asks for the copies of the path= rules rooted at a new overlay
// mount (see watchMounts). It never blocks; a request that does not fit the
// queue is counted, and the container's first events ask again.
func (s *Source) watchRoot(root, upper string) {
	select {
	case s.watchReq <- containerWatch{root: root, upper: upper}:
		s.rootWatches.Add(1)
	default:
		s.watchDrops.Add(1)
	}
}

// SetPIDFinder gives the watcher a way to find a running process of a
// container when the one a request named has already exited. Call it
// before Run.
func (s *Source) SetPIDFinder(f func(containerID string) int) { s.findPID = f }

// pidOf returns a running process of the container whose root is the
// container's own, or 0 when none is known yet. The first events of a
// container come from runc init before pivot_root, when its root is still
// the host's: a watch added then would watch the host's files.
func (s *Source) pidOf(req containerWatch) int {
	if procfs.OwnRoot("/proc", req.pid) {
		return req.pid
	}
	if s.findPID != nil {
		if pid := s.findPID(req.id); pid > 0 && pid != req.pid && procfs.OwnRoot("/proc", pid) {
			return pid
		}
	}
	return 0
}

// retryWatch asks again for a container whose root was not ready, a few
// times over a few seconds; after that the caller's periodic requests take
// over.
func (s *Source) retryWatch(req containerWatch) {
	if req.tries >= 20 {
		return
	}
	req.tries++
	time.AfterFunc(250*time.Millisecond, func() {
		select {
		case s.watchReq <- req:
		default:
			s.watchDrops.Add(1)
		}
	})
}

// WatchDirs lists the directories (inside a container) holding files the
// path= rules watch, sorted: a write into one of them may have created a
// directory a watch was waiting for.
func (s *Source) WatchDirs() []string {
	var dirs []string
	for _, r := range s.rules {
		if !r.Dir && r.Path != "" {
			if d := filepath.Dir(r.Path); !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	slices.Sort(dirs)
	return dirs
}
