package event

import "sync"

// Flag names of syscall arguments, Linux x86-64 values, as Falco prints
// them (O_WRONLY, S_ISUID ...): arg.flags and arg.mode are lists of these,
// so a rule tests "O_TRUNC" in arg.flags, in expr and in Falco's language.

type flagName struct {
	bits uint32
	name string
}

var openFlagNames = []flagName{
	{0o100, "O_CREAT"}, {0o200, "O_EXCL"}, {0o400, "O_NOCTTY"}, {0o1000, "O_TRUNC"}, {0o2000, "O_APPEND"},
	{0o4000, "O_NONBLOCK"}, {0o4010000, "O_SYNC"}, {0o10000, "O_DSYNC"}, {0o40000, "O_DIRECT"},
	{0o100000, "O_LARGEFILE"}, {0o20200000, "O_TMPFILE"}, {0o200000, "O_DIRECTORY"}, {0o400000, "O_NOFOLLOW"},
	{0o1000000, "O_NOATIME"}, {0o2000000, "O_CLOEXEC"}, {0o10000000, "O_PATH"},
}

var modeBitNames = []flagName{
	{0o1, "S_IXOTH"}, {0o2, "S_IWOTH"}, {0o4, "S_IROTH"}, {0o10, "S_IXGRP"}, {0o20, "S_IWGRP"}, {0o40, "S_IRGRP"},
	{0o100, "S_IXUSR"}, {0o200, "S_IWUSR"}, {0o400, "S_IRUSR"}, {0o1000, "S_ISVTX"}, {0o2000, "S_ISGID"}, {0o4000, "S_ISUID"},
}

// OpenFlags names open flags: the access mode (O_RDONLY, O_WRONLY, O_RDWR)
// first, then each flag set. The list is shared: do not modify it.
func OpenFlags(v uint32) []string { return named(&openCache, v, true) }

// ModeBits names the permission bits of a mode (S_IXOTH ... S_ISUID); nil
// for 0. The list is shared: do not modify it.
func ModeBits(v uint32) []string { return named(&modeCache, v&0o7777, false) }

// nameCache interns the lists: a host opens files with a few dozen distinct
// flag sets, so an event shares one list instead of building it. Bounded:
// past nameCacheMax values a list is built per call.
type nameCache struct {
	mu sync.RWMutex
	m  map[uint32][]string
}

const nameCacheMax = 1024

var openCache, modeCache nameCache

func named(c *nameCache, v uint32, open bool) []string {
	c.mu.RLock()
	names, ok := c.m[v]
	c.mu.RUnlock()
	if ok {
		return names
	}
	table := modeBitNames
	if open {
		table = openFlagNames
		switch v & 3 {
		case 0:
			names = append(names, "O_RDONLY")
		case 1:
			names = append(names, "O_WRONLY")
		default:
			names = append(names, "O_RDWR")
		}
	}
	for _, f := range table {
		if v&f.bits == f.bits {
			names = append(names, f.name)
		}
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[uint32][]string{}
	}
	if len(c.m) < nameCacheMax {
		c.m[v] = names
	}
	c.mu.Unlock()
	return names
}
