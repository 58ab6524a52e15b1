package procconn

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/sources/enrichers/procfs"
)

// execKey names one exec: the kernel sends the same message (pid and
// timestamp) to every listener, so the exec-only socket's copy and the
// main socket's copy share it.
type execKey struct {
	pid int32
	ts  uint64
}

// execInfo is what the prefetch thread read from /proc for one exec.
type execInfo struct {
	exe, name string
	args      []string // nil when not read or too long for one read
	// sid and tty are stat's session and controlling terminal, read
	// with the name (sid 0: not read).
	sid int
	tty bool
	// readExec: exe and comm were asked for; complete: both were read.
	readExec, complete bool
	// cid is the container id of the cgroup read at receive; hasCID says
	// a cgroup was read (the process still existed).
	cid    string
	hasCID bool
	// mnt is the process's mount namespace (0: not read, or gone); the
	// cgroup is not read when it is the host's (Config.HostMountNS).
	mnt uint64
	// stdio are the links of fds 0-2, read with the cgroup (a process
	// outside the host's mount namespace); zero when not read.
	stdio [3]procfs.Stdio
}

// prefetchKeep bounds the execs read ahead and not yet taken: entries the
// main reader never takes (its socket overflowed) are dropped oldest
// first. Far above what the main reader lags behind (a few ms of execs).
const prefetchKeep = 4096

// A reader that finds no prefetched reads for an exec polls for them
// every prefetchWait until prefetchWaitMax after the exec (the prefetch
// thread reads an exec within tens of µs) before it reads /proc itself.
const (
	prefetchWait    = 100 * time.Microsecond
	prefetchWaitMax = 2 * time.Millisecond
)

// prefetchCache hands the prefetch thread's reads to the main reader. The
// lock is held for a map operation only.
type prefetchCache struct {
	// running is true while an exec reader reads: without one, no
	// reads are waited for.
	running atomic.Bool

	mu   sync.Mutex
	m    map[execKey]execInfo
	ring [prefetchKeep]execKey
	next int
}

func newPrefetchCache() *prefetchCache {
	return &prefetchCache{m: make(map[execKey]execInfo, prefetchKeep)}
}

// put records the reads of one exec, dropping the oldest entry when full.
func (c *prefetchCache) put(k execKey, v execInfo) {
	c.mu.Lock()
	// Every entry's key is in the ring, so the map never holds more than
	// the ring: the slot about to be reused names the oldest entry, or
	// one already taken (then the delete does nothing).
	delete(c.m, c.ring[c.next])
	c.m[k] = v
	c.ring[c.next] = k
	c.next = (c.next + 1) % prefetchKeep
	c.mu.Unlock()
}

// take returns and forgets the reads of one exec.
func (c *prefetchCache) take(k execKey) (execInfo, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	if ok {
		delete(c.m, k)
	}
	c.mu.Unlock()
	return v, ok
}
