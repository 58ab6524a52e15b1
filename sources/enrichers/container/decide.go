package container

import "github.com/ruled/ruled/sources/event"

// Clues are what the event path knows, at one event, about which container
// a process is in. Each comes from a different moment or party; Decide is
// the one place that weighs them (sensors and enrichers only gather them).
// "" means not known.
type Clues struct {
	// Exec is the id the sensor read from the process's cgroup as it
	// received its exec (the proc connector does, before a short process
	// can exit), carried on the exec event.
	Exec string
	// Now is the id read from /proc/PID/cgroup by the process table at
	// this event.
	Now string
	// Before is the process's id in the table before this event: its fork
	// copy of the parent's, or its previous image's.
	Before string
	// Parent is the parent's id in the table.
	Parent string
	// ParentRuntime is the container the parent, a container runtime
	// (runc exec, a shim, conmon), names on its command line: the one its
	// children join (RuntimeArgsID).
	ParentRuntime string
	// Recorded is an id a non-exec event carries (a replayed recording).
	Recorded string
	// HostMount says the process was in the host's mount namespace
	// (init's) at its exec, so its cgroup was not read (Exec and Now are
	// empty). Every container runtime (runc and crun through Docker,
	// containerd, CRI-O and Podman, LXC, nspawn) gives a container's
	// processes a mount namespace of their own: such a process is a host
	// process, or one that left its container's mount namespace (nsenter
	// -t 1 -m from a privileged --pid=host container), which stays in
	// that container as its cgroup would say.
	HostMount bool
}

// Decide returns the container id of a process from its clues, the most
// direct first: a cgroup read at the exec, then one read now; else what the
// process had, else its parent's, except that the child of a container
// runtime inherits the container the runtime names rather than the
// runtime's own host cgroup (a docker exec'd command gone before its
// cgroup could be read is in that container); a recorded id last.
//
// A process in the host's mount namespace whose cgroup was not read
// (HostMount) is in the container it had or its parent has, when that is a
// container (an escape keeps its container), else on the host: its
// parent's runtime naming and a recording do not count. This differs from
// reading its cgroup only for a process moved into a container's cgroup
// without leaving the host's mount namespace, which no runtime does.
func Decide(c Clues) string {
	switch {
	case c.Exec != "":
		return c.Exec
	case c.Now != "":
		return c.Now
	case c.HostMount:
		switch {
		case isContainer(c.Before):
			return c.Before
		case isContainer(c.Parent):
			return c.Parent
		}
		return event.HostID
	}
	id := c.Before
	if id == "" {
		id = c.Parent
	}
	if c.ParentRuntime != "" && (id == "" || id == event.HostID) {
		id = c.ParentRuntime
	}
	if id == "" {
		id = c.Recorded
	}
	return id
}

// isContainer reports whether id names a container (not the host, not
// unknown).
func isContainer(id string) bool { return id != "" && id != event.HostID }
