package container

import (
	"context"
	"errors"
	"maps"
)

// Info is what a container runtime says about one container.
type Info struct {
	ID         string
	Name       string // without Docker's leading "/"
	Image      string // the reference the container was created from
	ImageID    string
	Runtime    string // event.RuntimeDocker ...
	Privileged bool
	Labels     map[string]string
	PodName    string // io.kubernetes.pod.name label
	PodNS      string // io.kubernetes.pod.namespace label
	PodUID     string // io.kubernetes.pod.uid label
	// UpperDir is the container's writable overlay layer on the host,
	// when its runtime says (Docker's overlay2 storage driver).
	UpperDir string
}

// Kubernetes labels the kubelet (dockershim, cri-dockerd, containerd, CRI-O)
// puts on every container it creates.
const (
	LabelPodName      = "io.kubernetes.pod.name"
	LabelPodNamespace = "io.kubernetes.pod.namespace"
	LabelPodUID       = "io.kubernetes.pod.uid"
)

func (i *Info) setK8s() {
	i.PodName = i.Labels[LabelPodName]
	i.PodNS = i.Labels[LabelPodNamespace]
	i.PodUID = i.Labels[LabelPodUID]
}

func (i Info) clone() Info {
	i.Labels = maps.Clone(i.Labels)
	return i
}

// Event is a change a runtime reports about a container.
type Event struct {
	Action string // start, die, destroy, rename, ...
	ID     string
}

// Runtime is a container runtime API: Docker's Engine API, or a CRI
// runtime service (containerd, CRI-O).
type Runtime interface {
	// Inspect returns one container; ErrNotFound when the runtime does not
	// know the id.
	Inspect(ctx context.Context, id string) (Info, error)
	// Events streams container changes to fn until ctx ends or the stream
	// breaks. It calls connected once the stream is established, so the
	// caller knows the runtime is back and lookups may be retried.
	Events(ctx context.Context, connected func(), fn func(Event)) error
}

// ErrNotFound reports a container the runtime does not know (it is gone, or
// belongs to another runtime).
var ErrNotFound = errors.New("container not found")
