// Package inspect gathers what an incident responder wants to know about one
// container, from the kernel first and the runtime second: its processes,
// the sockets of its network namespace, its interfaces with their host-side
// veth peers, the files changed in its writable overlay layer, its mounts,
// the packages its root file system says are installed, and the agent's
// recent alerts about it. `ruled inspect` prints a Report.
//
// The parsers (overlay upper-layer walk, mountinfo, dpkg status, apk
// installed, rtnetlink link and address messages, alert files) are pure and
// take fs.FS or io.Reader; Gather is the thin shell that points them at
// /proc, the host's file systems and the Docker Engine API. When the runtime
// does not answer, Gather still reports from /proc and the cgroup.
package inspect
