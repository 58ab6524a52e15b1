package inspect

import (
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/event"
)

// Report is what `ruled inspect -json` writes: one document, these keys.
type Report struct {
	Container Container     `json:"container"`
	Processes []Process     `json:"processes"`
	Sockets   []Socket      `json:"sockets"`
	Network   Network       `json:"network"`
	Changes   []Change      `json:"changes"`
	Mounts    []Mount       `json:"mounts"`
	Packages  []Package     `json:"packages"`
	Alerts    []event.Alert `json:"alerts"`
	// Notes say what could not be gathered and why, and where the alerts
	// came from.
	Notes []string `json:"notes,omitempty"`
}

// Container is the container's identity and configuration. Fields only the
// runtime knows stay empty (pointers nil) when it did not answer.
type Container struct {
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Image   string `json:"image,omitempty"`
	ImageID string `json:"image_id,omitempty"`
	Runtime string `json:"runtime"` // docker, containerd ... (from the cgroup when the runtime is down)
	// OCIRuntime is the low-level runtime (runc, a registered wrapper).
	OCIRuntime string    `json:"oci_runtime,omitempty"`
	Created    time.Time `json:"created,omitzero"`
	Started    time.Time `json:"started,omitzero"`
	State      string    `json:"state,omitempty"`
	Privileged *bool     `json:"privileged"`
	CapAdd     []string  `json:"cap_add"`
	CapDrop    []string  `json:"cap_drop,omitempty"`
	// CapEffective are the effective capabilities of the container's init,
	// from /proc (known without the runtime).
	CapEffective []string          `json:"cap_effective"`
	PIDMode      string            `json:"pid_mode,omitempty"` // "" own namespace, "host", "container:ID"
	PIDNamespace uint64            `json:"pid_namespace"`      // inode of /proc/PID/ns/pid
	NetNamespace uint64            `json:"net_namespace"`
	InitPID      int               `json:"init_pid"` // host pid of the container's init
	Labels       map[string]string `json:"labels"`
	K8sPod       string            `json:"k8s_pod,omitempty"`
	K8sNamespace string            `json:"k8s_namespace,omitempty"`
	UpperDir     string            `json:"upper_dir,omitempty"`
	// From says where the metadata came from: "runtime" or "proc" (the
	// runtime did not answer: id, runtime, pids and namespaces only).
	From string `json:"from"`
}

// Process is one process of the container.
type Process struct {
	PID     int          `json:"pid"`
	PPID    int          `json:"ppid"`
	VPID    int          `json:"vpid"` // pid inside the container
	User    string       `json:"user"`
	UID     int          `json:"uid"`
	Name    string       `json:"name"`
	Exe     string       `json:"exe"`
	Cmdline string       `json:"cmdline"`
	Started time.Time    `json:"start_time,omitzero"`
	Depth   int          `json:"depth"` // in the process tree, 0 for the container's roots
	Stdin   *event.Stdio `json:"stdin,omitempty"`
	Stdout  *event.Stdio `json:"stdout,omitempty"`
	Stderr  *event.Stdio `json:"stderr,omitempty"`
}

// Socket is one socket of the container's network namespace.
type Socket struct {
	Proto  string `json:"proto"`
	State  string `json:"state"`
	Local  string `json:"local"`
	Remote string `json:"remote"`
	Inode  uint64 `json:"inode"`
	PID    int    `json:"pid,omitempty"`
	PIDs   []int  `json:"pids,omitempty"`
	Exe    string `json:"exe,omitempty"`
}

// Network is the container's interfaces and the networks the runtime
// attached it to.
type Network struct {
	Interfaces []Link              `json:"interfaces"`
	Networks   []container.Network `json:"networks"`
}
