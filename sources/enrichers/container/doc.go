// Package container attributes processes to containers and describes them.
//
// ParseCgroup reads a /proc/PID/cgroup file and finds the container id for
// every runtime layout ruled knows (Docker cgroupfs and systemd, containerd,
// CRI-O, podman, kubepods with either cgroup driver, cgroup v2, Docker in
// Docker). ParseRootOverlay reads /proc/PID/mountinfo and finds the writable
// overlay layer of a container's root, for proc.exe_upper_layer.
//
// Resolver joins them with a container runtime (the Docker Engine API over
// its unix socket, see Docker) behind a cache: Enrich fills container.* from
// the cache without blocking and queues misses for a background worker, so a
// slow or absent daemon never holds up an event.
package container
