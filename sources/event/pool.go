package event

import "sync"

// The live sensors emit several events per exec (the proc connector's fork,
// exec and exit, audit's exec and dups), each an Event of ~1.4 KB that lives
// only until the engine has seen it: a third of what the agent allocated
// under an exec storm, and so a third of its collections. New and Release
// recycle them.
var pool = sync.Pool{New: func() any { return new(Event) }}

// New returns a zeroed Event, one Release gave back if there is one.
func New() *Event { return pool.Get().(*Event) }

// Release zeroes ev and keeps it for New. Call it only as ev's last holder:
// nothing may read or keep ev afterwards (an alert's Event, a sink's queue,
// a copy of the pointer anywhere). What ev's fields point to (argv, strings)
// is not reused, only the struct, so values copied out of ev stay valid.
// An Event never released is simply collected.
func Release(ev *Event) {
	if ev == nil {
		return
	}
	*ev = Event{}
	pool.Put(ev)
}
