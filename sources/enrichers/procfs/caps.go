package procfs

import (
	"strconv"
	"sync"
)

// capNames are the capabilities by number (linux/capability.h).
var capNames = [...]string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// CapName is capability n without the CAP_ prefix (SYS_ADMIN), or CAP_<n>
// for a number the table does not know.
func CapName(n int) string {
	if n >= 0 && n < len(capNames) {
		return capNames[n]
	}
	return "CAP_" + strconv.Itoa(n)
}

// capCache interns the name lists of the masks seen: a host has a handful
// of distinct capability sets (root's, Docker's default, none), so each
// exec shares one list instead of building it. Bounded: past capCacheMax
// masks a list is built per call.
var (
	capMu    sync.RWMutex
	capCache = map[uint64][]string{}
)

const capCacheMax = 256

// CapNames returns the CAP_* names of a capability mask, lowest bit first;
// nil for an empty mask. The list is shared: callers must not modify it.
func CapNames(mask uint64) []string {
	if mask == 0 {
		return nil
	}
	capMu.RLock()
	names, ok := capCache[mask]
	capMu.RUnlock()
	if ok {
		return names
	}
	for i := range 64 {
		if mask&(1<<i) == 0 {
			continue
		}
		if i < len(capNames) {
			names = append(names, "CAP_"+capNames[i])
		} else {
			names = append(names, "CAP_"+strconv.Itoa(i))
		}
	}
	capMu.Lock()
	if len(capCache) < capCacheMax {
		capCache[mask] = names
	}
	capMu.Unlock()
	return names
}
