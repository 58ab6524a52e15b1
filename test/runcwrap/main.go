// Command runcwrap is a runc wrapper for test hosts whose capability
// bounding set lacks some capabilities (a VM's init may withhold
// CAP_SYS_RESOURCE): `docker run --privileged` asks runc for every
// capability the kernel knows, runc cannot apply one the host does not
// have, and the container fails to start. Registered with dockerd as the
// runtime "ruled-test-runc" by test/setup.sh, it drops from the OCI bundle's
// capability sets exactly the capabilities this host's bounding set lacks,
// then execs the real runc. Everything else about the container (privileged
// in Docker's metadata, all devices, no seccomp or AppArmor, every other
// capability) is untouched. Only the detection scenarios use it.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capNames are the kernel's capability numbers (linux/capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

func main() {
	if err := strip(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "runcwrap:", err)
		os.Exit(1)
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		fmt.Fprintln(os.Stderr, "runcwrap:", err)
		os.Exit(1)
	}
	err = syscall.Exec(runc, append([]string{"runc"}, os.Args[1:]...), os.Environ())
	fmt.Fprintln(os.Stderr, "runcwrap: exec runc:", err)
	os.Exit(1)
}

// strip edits the capability sets runc is about to apply: the bundle's
// config.json for create and run, the --process file for exec (docker exec
// into a privileged container asks for every capability too).
func strip(args []string) error {
	var bundle, process, cmd string
	for i, a := range args {
		switch {
		case cmd == "" && (a == "create" || a == "run" || a == "exec"):
			cmd = a
		case (a == "--bundle" || a == "-b") && i+1 < len(args):
			bundle = args[i+1]
		case strings.HasPrefix(a, "--bundle="):
			bundle = strings.TrimPrefix(a, "--bundle=")
		case (a == "--process" || a == "-p") && i+1 < len(args):
			process = args[i+1]
		case strings.HasPrefix(a, "--process="):
			process = strings.TrimPrefix(a, "--process=")
		}
	}
	var path string
	switch {
	case cmd == "exec" && process != "":
		path = process
	case cmd == "create" || cmd == "run":
		if bundle == "" {
			bundle = "."
		}
		path = filepath.Join(bundle, "config.json")
	default:
		return nil
	}
	missing, err := missingCaps()
	if err != nil || len(missing) == 0 {
		return err
	}
	return stripFile(path, cmd == "exec", missing)
}

// stripFile removes the missing capabilities from an OCI spec
// (config.json) or, with processOnly, an OCI process (runc exec --process).
func stripFile(path string, processOnly bool, missing map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	proc := doc
	if !processOnly {
		proc, _ = doc["process"].(map[string]any)
	}
	caps, _ := proc["capabilities"].(map[string]any)
	for set, v := range caps {
		list, _ := v.([]any)
		kept := list[:0]
		for _, c := range list {
			if s, _ := c.(string); !missing[s] {
				kept = append(kept, c)
			}
		}
		caps[set] = kept
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// missingCaps returns the capabilities this process's bounding set lacks.
func missingCaps() (map[string]bool, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		hex, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		bnd, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("CapBnd %q: %w", hex, err)
		}
		missing := map[string]bool{}
		for i, name := range capNames {
			if bnd&(1<<i) == 0 {
				missing[name] = true
			}
		}
		return missing, nil
	}
	return nil, fmt.Errorf("no CapBnd in /proc/self/status")
}
