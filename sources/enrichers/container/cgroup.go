package container

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ruled/ruled/sources/event"
)

// Ref is what a cgroup file says about a process: the container id (full 64
// hex, or event.HostID) and the runtime the cgroup layout reveals ("" when
// the layout does not say, e.g. kubepods cgroupfs with a bare id).
type Ref struct {
	ID      string
	Runtime string
}

// ErrNoCgroup reports a cgroup file without a single hierarchy line, what
// reading /proc/PID/cgroup of a process that is exiting can give.
var ErrNoCgroup = errors.New("no cgroup lines")

// maxCgroupFile bounds what ParseCgroup reads; real files are a few hundred
// bytes even with a dozen v1 controllers and deep kubepods paths.
const maxCgroupFile = 64 << 10

// ParseCgroup parses /proc/PID/cgroup (cgroups(7): "ID:CONTROLLERS:PATH" per
// line, "0::PATH" for the v2 unified hierarchy).
func ParseCgroup(r io.Reader) (Ref, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxCgroupFile))
	if err != nil {
		return Ref{}, fmt.Errorf("read cgroup: %w", err)
	}
	return ParseCgroupBytes(b)
}

// ParseCgroupBytes is ParseCgroup over the file's bytes.
func ParseCgroupBytes(b []byte) (Ref, error) {
	id, rt, err := parseCgroup(b)
	if err != nil {
		return Ref{}, err
	}
	if id == nil {
		return Ref{ID: event.HostID}, nil
	}
	return Ref{ID: string(id), Runtime: rt}, nil
}

// parseCgroup returns the container id as a sub-slice of b (nil for a host
// process) so that callers holding a cache can look it up without
// allocating. The first line naming a container wins: on a hybrid host the
// v1 controllers and the v2 line agree, and controllers left at "/" name
// nothing.
func parseCgroup(b []byte) (id []byte, runtime string, err error) {
	lines := 0
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if len(line) == 0 {
			continue
		}
		// Only the third field is a path; controllers never hold a ':'
		// but the path may (containerd's systemd driver writes
		// "...slice:cri-containerd:ID").
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		j := bytes.IndexByte(line[i+1:], ':')
		if j < 0 {
			continue
		}
		lines++
		if cid, rt, ok := pathContainer(line[i+1+j+1:]); ok {
			return cid, rt, nil
		}
	}
	if lines == 0 {
		return nil, "", ErrNoCgroup
	}
	return nil, "", nil
}

// pathContainer finds the innermost container in one cgroup path: Docker
// in Docker nests /docker/OUTER/docker/INNER and the process belongs to
// INNER.
func pathContainer(path []byte) (id []byte, runtime string, ok bool) {
	var prev []byte
	for len(path) > 0 {
		var el []byte
		if i := bytes.IndexByte(path, '/'); i >= 0 {
			el, path = path[:i], path[i+1:]
		} else {
			el, path = path, nil
		}
		if len(el) == 0 {
			continue
		}
		if cid, rt, found := elementContainer(el, prev); found {
			id, runtime, ok = cid, rt, true
		}
		prev = el
	}
	return id, runtime, ok
}

// scopePrefixes maps systemd scope unit prefixes to runtimes. Conmon (the
// CRI-O and podman monitor) gets a scope of its own that is not the
// container, so those prefixes come first and map to "".
var scopePrefixes = []struct {
	prefix  string
	runtime string
	skip    bool
}{
	{"crio-conmon-", "", true},
	{"libpod-conmon-", "", true},
	{"docker-", event.RuntimeDocker, false},
	{"cri-containerd-", event.RuntimeContainerd, false},
	{"crio-", event.RuntimeCRIO, false},
	{"libpod-", event.RuntimePodman, false},
}

func elementContainer(el, prev []byte) (id []byte, runtime string, ok bool) {
	if isHexID(el) {
		// cgroupfs layouts: /docker/ID, /kubepods/QOS/podUID/ID (the
		// runtime behind the kubelet is not visible there), /libpod_parent/libpod-ID.
		if string(prev) == "docker" {
			return el, event.RuntimeDocker, true
		}
		return el, "", true
	}
	// containerd with the systemd driver outside a scope: "...slice:cri-containerd:ID".
	if i := bytes.LastIndexByte(el, ':'); i >= 0 {
		cid := el[i+1:]
		if isHexID(cid) && bytes.HasSuffix(el[:i], []byte(":cri-containerd")) {
			return cid, event.RuntimeContainerd, true
		}
		if isHexID(cid) && bytes.HasSuffix(el[:i], []byte(":docker")) {
			return cid, event.RuntimeDocker, true
		}
		return nil, "", false
	}
	name, found := bytes.CutSuffix(el, []byte(".scope"))
	if !found {
		return nil, "", false
	}
	for _, p := range scopePrefixes {
		if rest, found := bytes.CutPrefix(name, []byte(p.prefix)); found {
			if p.skip || !isHexID(rest) {
				return nil, "", false
			}
			return rest, p.runtime, true
		}
	}
	return nil, "", false
}

// RuntimeArgsID returns the container a container runtime process names on
// its command line, "" for any other process: runc and crun end theirs with
// the container id (runc exec ... ID), containerd's shim takes -id ID,
// conmon -c ID. A child such a process execs runs in that container, which
// tells where a docker exec'd command belonged when it was gone before its
// cgroup could be read. comm is the process's name, args its argv.
func RuntimeArgsID(comm string, args []string) string {
	switch {
	case comm == "runc", comm == "crun", comm == "conmon", strings.HasPrefix(comm, "containerd-shim"):
	default:
		return ""
	}
	for i := len(args) - 1; i > 0; i-- {
		if isHexID([]byte(args[i])) {
			return args[i]
		}
	}
	return ""
}

// isHexID reports a full container id: 64 lower-case hex digits. Shorter
// hex names exist on hosts (this machine's memory cgroup has a 32-hex
// /process_api/ID) and are not containers.
func isHexID(b []byte) bool {
	if len(b) != 64 {
		return false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
