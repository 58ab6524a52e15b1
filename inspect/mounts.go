package inspect

import (
	"path"
	"strings"

	"github.com/ruled/ruled/sources/enrichers/container"
)

// Mount is one mount of a container as its mount namespace shows it.
type Mount struct {
	// Source is the host path for a host file system mounted in (a bind
	// mount or volume), else the mount source mountinfo names.
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Type        string `json:"type"`
	Options     string `json:"options"`
	// HostPath is set when a file system of the host is mounted in: the
	// host path that the container sees at Destination.
	HostPath  string `json:"host_path,omitempty"`
	Sensitive bool   `json:"sensitive"`
	Reason    string `json:"reason,omitempty"`
}

// sensitiveHostPaths are host paths whose mount into a container hands it
// control of the host or its secrets: the root, kernel interfaces, the
// host's configuration, and container runtime sockets.
var sensitiveHostPaths = []string{"/", "/proc", "/sys", "/etc", "/root", "/boot", "/dev", "/var/lib/docker", "/var/lib/kubelet"}

// runtimeSockets are API sockets of container runtimes: whoever can write
// to one can start a privileged container.
var runtimeSockets = []string{"docker.sock", "containerd.sock", "crio.sock", "podman.sock", "cri-dockerd.sock"}

// Mounts turns a container's mountinfo into its mount list. A mount whose
// device also appears in the host's mountinfo (hostMounts, from
// /proc/1/mountinfo) is a host file system mounted in: its host path is
// the host mount point of that device plus the mount's root. The
// container's root file system, its own cgroups and the files the runtime
// writes for it (hosts, hostname, resolv.conf: host paths with a directory
// named after the container id) are not flagged.
func Mounts(ctr, hostMounts []container.Mount, id string) []Mount {
	out := make([]Mount, 0, len(ctr))
	for _, m := range ctr {
		r := Mount{Source: m.Source, Destination: m.MountPoint, Type: m.FSType, Options: m.Options}
		if m.MountPoint == "/" {
			r.Reason = "container root file system"
			out = append(out, r)
			continue
		}
		if m.FSType == "cgroup" || m.FSType == "cgroup2" {
			// The container's own cgroup, seen through its cgroup mounts.
			out = append(out, r)
			continue
		}
		hp, ok := hostPath(m, hostMounts)
		if !ok {
			out = append(out, r)
			continue
		}
		r.HostPath, r.Source = hp, hp
		if id != "" && strings.Contains(hp+"/", "/"+id+"/") {
			r.Reason = "written by the container runtime"
			out = append(out, r)
			continue
		}
		r.Sensitive, r.Reason = sensitive(hp)
		if r.Reason == "" {
			r.Reason = "host path mounted in"
		}
		out = append(out, r)
	}
	return out
}

// hostPath maps a container mount to the host path of the same file
// system: among host mounts of the same device whose root contains the
// mount's root, the one with the longest root (then the shortest mount
// point) names it.
func hostPath(m container.Mount, host []container.Mount) (string, bool) {
	best := -1
	for i, h := range host {
		if h.Dev != m.Dev || !within(m.Root, h.Root) {
			continue
		}
		if best < 0 || len(h.Root) > len(host[best].Root) ||
			len(h.Root) == len(host[best].Root) && len(h.MountPoint) < len(host[best].MountPoint) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	h := host[best]
	rel := strings.TrimPrefix(m.Root, h.Root)
	return path.Clean(path.Join(h.MountPoint, rel)), true
}

func within(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// sensitive says whether a host path mounted into a container is one that
// gives it the host, and why.
func sensitive(hp string) (bool, string) {
	base := path.Base(hp)
	for _, s := range runtimeSockets {
		if base == s {
			return true, "container runtime socket " + hp
		}
	}
	for _, s := range sensitiveHostPaths {
		if hp == s {
			return true, "host " + s + " mounted in"
		}
		if s != "/" && strings.HasPrefix(hp, s+"/") {
			return true, "below host " + s
		}
	}
	return false, ""
}
