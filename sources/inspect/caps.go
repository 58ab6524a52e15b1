package inspect

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// capNames are the capabilities by number (linux/capability.h), in the
// spelling Docker's --cap-add takes.
var capNames = [...]string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// CapEffective returns the names of the CapEff mask of a /proc/PID/status
// file; a bit the table does not know is named CAP_<n>.
func CapEffective(status []byte) []string {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "CapEff" {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return nil
		}
		names := []string{}
		for i := range 64 {
			if mask&(1<<i) == 0 {
				continue
			}
			if i < len(capNames) {
				names = append(names, capNames[i])
			} else {
				names = append(names, "CAP_"+strconv.Itoa(i))
			}
		}
		return names
	}
	return nil
}
