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
}

// Decide returns the container id of a process from its clues, the most
// direct first: a cgroup read at the exec, then one read now; else what the
// process had, else its parent's, except that the child of a container
// runtime inherits the container the runtime names rather than the
// runtime's own host cgroup (a docker exec'd command gone before its
// cgroup could be read is in that container); a recorded id last.
func Decide(c Clues) string {
	switch {
	case c.Exec != "":
		return c.Exec
	case c.Now != "":
		return c.Now
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
