package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/ruled/ruled/sources/event"
)

// CRI sockets of the runtimes Kubernetes nodes use, probed in this order.
const (
	DefaultContainerdSocket = "/run/containerd/containerd.sock"
	DefaultCRIOSocket       = "/var/run/crio/crio.sock"
)

// DefaultCRISockets lists the sockets ProbeCRI tries when none is configured.
var DefaultCRISockets = []string{DefaultContainerdSocket, DefaultCRIOSocket}

// CRI is a client of a Kubernetes CRI runtime service (containerd's CRI
// plugin, CRI-O) over the runtime's unix socket.
type CRI struct {
	socket string
	conn   *grpc.ClientConn
	rs     runtimeapi.RuntimeServiceClient
	// poll is how often Events lists containers when the runtime has no
	// event stream (containerd before 1.7).
	poll time.Duration

	mu   sync.Mutex
	name string // event.Runtime* from Version; "" until the runtime answered
}

// NewCRI returns a client of the CRI runtime listening on socket. It does not
// connect: calls do, and fail while the runtime is down.
func NewCRI(socket string) (*CRI, error) {
	conn, err := grpc.NewClient("passthrough:///"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}),
		// Verbose container status of a pod with a large spec is a few
		// hundred KiB; kubelet allows 16 MiB.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)),
	)
	if err != nil {
		return nil, fmt.Errorf("cri client %s: %w", socket, err)
	}
	return &CRI{socket: socket, conn: conn, rs: runtimeapi.NewRuntimeServiceClient(conn), poll: 2 * time.Second}, nil
}

// Socket returns the socket the client talks to.
func (c *CRI) Socket() string { return c.socket }

// Close closes the connection.
func (c *CRI) Close() error { return c.conn.Close() }

// Version asks the runtime for its name and version ("containerd",
// "v1.6.20"), which also tells whether a socket serves the CRI API.
func (c *CRI) Version(ctx context.Context) (name, version string, err error) {
	v, err := c.rs.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return "", "", fmt.Errorf("cri version %s: %w", c.socket, err)
	}
	c.mu.Lock()
	c.name = runtimeName(v.GetRuntimeName())
	c.mu.Unlock()
	return v.GetRuntimeName(), v.GetRuntimeVersion(), nil
}

// runtimeName maps a CRI RuntimeName to container.runtime's values.
func runtimeName(s string) string {
	switch strings.ToLower(s) {
	case "containerd":
		return event.RuntimeContainerd
	case "cri-o", "crio":
		return event.RuntimeCRIO
	}
	return strings.ToLower(s)
}

func (c *CRI) runtime(ctx context.Context) string {
	c.mu.Lock()
	n := c.name
	c.mu.Unlock()
	if n == "" {
		if _, _, err := c.Version(ctx); err == nil {
			c.mu.Lock()
			n = c.name
			c.mu.Unlock()
		}
	}
	return n
}

// Inspect implements Runtime with ContainerStatus (verbose, for the
// privileged flag and the sandbox id) and PodSandboxStatus (pod name,
// namespace and uid). An id that is a pod sandbox (its pause process) gets
// the pod's identity with the sandbox as container.
func (c *CRI) Inspect(ctx context.Context, id string) (Info, error) {
	rt := c.runtime(ctx)
	cs, err := c.rs.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if status.Code(err) == codes.NotFound {
		return c.inspectSandbox(ctx, id, rt)
	}
	if err != nil {
		return Info{}, fmt.Errorf("cri container status %s: %w", id, err)
	}
	info, vi, err := decodeContainerStatus(cs)
	if err != nil {
		return Info{}, fmt.Errorf("cri container status %s: %w", id, err)
	}
	info.Runtime = rt
	sandbox := vi.SandboxID
	if sandbox == "" {
		// Runtimes whose verbose info lacks it: the list entry has it.
		l, err := c.rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{Id: id}})
		if err != nil {
			return Info{}, fmt.Errorf("cri list container %s: %w", id, err)
		}
		for _, ct := range l.GetContainers() {
			if ct.GetId() == id {
				sandbox = ct.GetPodSandboxId()
			}
		}
	}
	if sandbox != "" {
		ps, err := c.rs.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sandbox})
		switch {
		case status.Code(err) == codes.NotFound:
			// The pod went away between the two calls; labels may still say.
		case err != nil:
			return Info{}, fmt.Errorf("cri pod sandbox status %s: %w", sandbox, err)
		default:
			setPod(&info, ps.GetStatus().GetMetadata())
		}
	}
	return info, nil
}

func (c *CRI) inspectSandbox(ctx context.Context, id, rt string) (Info, error) {
	ps, err := c.rs.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if status.Code(err) == codes.NotFound {
		return Info{}, fmt.Errorf("cri inspect %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("cri pod sandbox status %s: %w", id, err)
	}
	return decodeSandboxStatus(ps, rt), nil
}

// verboseInfo is the part of ContainerStatus's verbose "info" JSON ruled
// uses. containerd writes {"sandboxID", "config": the CreateContainer
// config}; CRI-O writes {"sandboxID", "privileged"}.
type verboseInfo struct {
	SandboxID  string `json:"sandboxID"`
	Privileged *bool  `json:"privileged"`
	Config     struct {
		Linux struct {
			SecurityContext struct {
				Privileged bool `json:"privileged"`
			} `json:"security_context"`
		} `json:"linux"`
	} `json:"config"`
}

// decodeContainerStatus turns a ContainerStatus answer into Info (without
// the runtime name and pod metadata, which take other calls).
func decodeContainerStatus(r *runtimeapi.ContainerStatusResponse) (Info, verboseInfo, error) {
	s := r.GetStatus()
	if s == nil {
		return Info{}, verboseInfo{}, errors.New("answer without status")
	}
	var vi verboseInfo
	if raw, ok := r.GetInfo()["info"]; ok {
		if err := json.Unmarshal([]byte(raw), &vi); err != nil {
			return Info{}, verboseInfo{}, fmt.Errorf("verbose info: %w", err)
		}
	}
	info := Info{
		ID:      s.GetId(),
		Name:    s.GetMetadata().GetName(),
		Image:   s.GetImage().GetUserSpecifiedImage(),
		ImageID: s.GetImageRef(),
		Labels:  maps.Clone(s.GetLabels()),
	}
	if info.Image == "" {
		info.Image = s.GetImage().GetImage()
	}
	if vi.Privileged != nil {
		info.Privileged = *vi.Privileged
	} else {
		info.Privileged = vi.Config.Linux.SecurityContext.Privileged
	}
	if n := s.GetLabels()["io.kubernetes.container.name"]; n != "" && info.Name == "" {
		info.Name = n
	}
	info.setK8s()
	return info, vi, nil
}

// decodeSandboxStatus describes a pod sandbox as the container its pause
// process runs in.
func decodeSandboxStatus(r *runtimeapi.PodSandboxStatusResponse, rt string) Info {
	s := r.GetStatus()
	info := Info{ID: s.GetId(), Runtime: rt, Labels: maps.Clone(s.GetLabels())}
	setPod(&info, s.GetMetadata())
	info.Name = info.PodName
	return info
}

// setPod takes the pod's identity from its sandbox metadata, which kubelet
// and any other CRI client must set, over labels that only kubelet adds.
func setPod(info *Info, m *runtimeapi.PodSandboxMetadata) {
	if m == nil {
		return
	}
	if m.GetName() != "" {
		info.PodName = m.GetName()
	}
	if m.GetNamespace() != "" {
		info.PodNS = m.GetNamespace()
	}
	if m.GetUid() != "" {
		info.PodUID = m.GetUid()
	}
}

// Events implements Runtime. It follows the runtime's container event
// stream (GetContainerEvents, containerd ≥ 1.7 and CRI-O with evented
// PLEG); a runtime without one is polled with ListContainers and the
// differences reported as start and destroy.
func (c *CRI) Events(ctx context.Context, connected func(), fn func(Event)) error {
	if _, _, err := c.Version(ctx); err != nil {
		return err
	}
	stream, err := c.rs.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err == nil {
		var first *runtimeapi.ContainerEventResponse
		first, err = stream.Recv()
		if err == nil {
			if connected != nil {
				connected()
			}
			fn(containerEvent(first))
			for {
				e, err := stream.Recv()
				if err != nil {
					return streamErr(ctx, err)
				}
				fn(containerEvent(e))
			}
		}
	}
	if status.Code(err) != codes.Unimplemented {
		return streamErr(ctx, err)
	}
	return c.pollEvents(ctx, connected, fn)
}

func streamErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("cri events: %w", err)
}

func containerEvent(e *runtimeapi.ContainerEventResponse) Event {
	ev := Event{ID: e.GetContainerId()}
	switch e.GetContainerEventType() {
	case runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT:
		ev.Action = "start"
	case runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT:
		ev.Action = "destroy"
	case runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT:
		ev.Action = "create"
	case runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT:
		ev.Action = "die"
	}
	return ev
}

// pollEvents lists containers and sandboxes every c.poll and reports new
// running ones as start and vanished ones as destroy. A failed list ends it:
// the runtime is down.
func (c *CRI) pollEvents(ctx context.Context, connected func(), fn func(Event)) error {
	var known map[string]bool
	t := time.NewTicker(c.poll)
	defer t.Stop()
	for {
		now, err := c.running(ctx)
		if err != nil {
			return streamErr(ctx, err)
		}
		if known == nil {
			if connected != nil {
				connected()
			}
		} else {
			for _, e := range diffRunning(known, now) {
				fn(e)
			}
		}
		known = now
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// running returns the ids of running containers and ready sandboxes.
func (c *CRI) running(ctx context.Context) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := c.rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
	}})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	sl, err := c.rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	}})
	if err != nil {
		return nil, fmt.Errorf("list pod sandboxes: %w", err)
	}
	m := make(map[string]bool, len(cl.GetContainers())+len(sl.GetItems()))
	for _, ct := range cl.GetContainers() {
		m[ct.GetId()] = true
	}
	for _, s := range sl.GetItems() {
		m[s.GetId()] = true
	}
	return m, nil
}

// diffRunning reports what changed between two listings.
func diffRunning(before, now map[string]bool) []Event {
	var out []Event
	for id := range now {
		if !before[id] {
			out = append(out, Event{Action: "start", ID: id})
		}
	}
	for id := range before {
		if !now[id] {
			out = append(out, Event{Action: "destroy", ID: id})
		}
	}
	return out
}

// ProbeCRI returns a client for the first socket of sockets that exists and
// answers CRI Version within timeout, with the runtime's name and version.
// It returns nil and the reasons when none does.
func ProbeCRI(ctx context.Context, sockets []string, timeout time.Duration) (*CRI, string, error) {
	var errs []error
	for _, s := range sockets {
		if fi, err := os.Stat(s); err != nil || fi.Mode().Type() != os.ModeSocket {
			errs = append(errs, fmt.Errorf("%s: no socket", s))
			continue
		}
		c, err := NewCRI(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		vctx, cancel := context.WithTimeout(ctx, timeout)
		name, ver, err := c.Version(vctx)
		cancel()
		if err != nil {
			c.Close()
			errs = append(errs, err)
			continue
		}
		return c, name + " " + ver, nil
	}
	return nil, "", errors.Join(errs...)
}
