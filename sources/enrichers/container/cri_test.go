package container

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/ruled/ruled/sources/event"
)

// Recorded from Debian's containerd 1.6.20 (test/k8s): a busybox container
// "app" in pod prod/web-0.
const (
	recContainer = "6c6e405a21de7fbc62be4de32f880bc6b6b59a3c95aebff858b8719a150e1e4a"
	recSandbox   = "382472ca1c401612f2a9170a742f87faa974569be0b86329e3174e9a4338ee2c"
	recPodUID    = "0f1e2d3c-6e9a-4b5a-8c7d-1fbb32e70f7d"
)

// fakeCRI is a CRI runtime service answering from recorded responses.
type fakeCRI struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	name       string
	containers map[string]*runtimeapi.ContainerStatusResponse
	sandboxes  map[string]*runtimeapi.PodSandboxStatusResponse
	sandboxOf  map[string]string // for runtimes whose verbose info lacks it

	mu      sync.Mutex
	running []string // ListContainers answer
	events  chan *runtimeapi.ContainerEventResponse
}

func (f *fakeCRI) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{RuntimeName: f.name, RuntimeVersion: "v9.9.9"}, nil
}

func (f *fakeCRI) ContainerStatus(_ context.Context, r *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	if cs, ok := f.containers[r.GetContainerId()]; ok {
		return cs, nil
	}
	return nil, status.Errorf(codes.NotFound, "an error occurred when try to find container %q: not found", r.GetContainerId())
}

func (f *fakeCRI) PodSandboxStatus(_ context.Context, r *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	if ps, ok := f.sandboxes[r.GetPodSandboxId()]; ok {
		return ps, nil
	}
	return nil, status.Errorf(codes.NotFound, "an error occurred when try to find sandbox %q: not found", r.GetPodSandboxId())
}

func (f *fakeCRI) ListContainers(_ context.Context, r *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtimeapi.Container
	for _, id := range f.running {
		if r.GetFilter().GetId() == "" || r.GetFilter().GetId() == id {
			out = append(out, &runtimeapi.Container{Id: id, PodSandboxId: f.sandboxOf[id]})
		}
	}
	return &runtimeapi.ListContainersResponse{Containers: out}, nil
}

func (f *fakeCRI) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return &runtimeapi.ListPodSandboxResponse{}, nil
}

func (f *fakeCRI) GetContainerEvents(_ *runtimeapi.GetEventsRequest, s grpc.ServerStreamingServer[runtimeapi.ContainerEventResponse]) error {
	if f.events == nil {
		return status.Error(codes.Unimplemented, "not implemented")
	}
	for {
		select {
		case <-s.Context().Done():
			return nil
		case e := <-f.events:
			if err := s.Send(e); err != nil {
				return err
			}
		}
	}
}

func (f *fakeCRI) setRunning(ids ...string) {
	f.mu.Lock()
	f.running = ids
	f.mu.Unlock()
}

// serve runs f on a unix socket until the test ends and returns a client.
func serve(t *testing.T, f *fakeCRI) (*CRI, func()) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "cri.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, f)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	c, err := NewCRI(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv.Stop
}

func loadRecorded(t *testing.T) (*runtimeapi.ContainerStatusResponse, *runtimeapi.PodSandboxStatusResponse) {
	t.Helper()
	var cs runtimeapi.ContainerStatusResponse
	var ps runtimeapi.PodSandboxStatusResponse
	for name, m := range map[string]interface{ Reset() }{"container": &cs, "sandbox": &ps} {
		b, err := os.ReadFile("testdata/cri/containerd-1.6-" + name + "-status.json")
		if err != nil {
			t.Fatal(err)
		}
		var err2 error
		switch v := m.(type) {
		case *runtimeapi.ContainerStatusResponse:
			err2 = protojson.Unmarshal(b, v)
		case *runtimeapi.PodSandboxStatusResponse:
			err2 = protojson.Unmarshal(b, v)
		}
		if err2 != nil {
			t.Fatalf("%s: %v", name, err2)
		}
	}
	return &cs, &ps
}

func TestCRIInspect(t *testing.T) {
	cs, ps := loadRecorded(t)
	privileged := &runtimeapi.ContainerStatusResponse{
		Status: &runtimeapi.ContainerStatus{Id: "c0" + recContainer[2:], Metadata: &runtimeapi.ContainerMetadata{Name: "priv"},
			Image: &runtimeapi.ImageSpec{Image: "sha256:1234", UserSpecifiedImage: "nginx:1.27"}, ImageRef: "sha256:1234",
			Labels: map[string]string{LabelPodName: "label-pod", LabelPodNamespace: "label-ns", LabelPodUID: "label-uid"}},
		// CRI-O's shape: privileged at the top, and no sandbox id here.
		Info: map[string]string{"info": `{"pid": 42, "privileged": true}`},
	}
	f := &fakeCRI{
		name:       "cri-o",
		containers: map[string]*runtimeapi.ContainerStatusResponse{recContainer: cs, privileged.Status.Id: privileged},
		sandboxes:  map[string]*runtimeapi.PodSandboxStatusResponse{recSandbox: ps},
		sandboxOf:  map[string]string{privileged.Status.Id: "dead" + recSandbox[4:]},
	}
	f.setRunning(recContainer, privileged.Status.Id)
	c, _ := serve(t, f)
	ctx := context.Background()

	tests := []struct {
		name string
		id   string
		want Info
		err  error
	}{
		{"recorded containerd container", recContainer, Info{ID: recContainer, Name: "app", Image: "docker.io/library/ruled-test-busybox:latest",
			ImageID: "sha256:aa9d34c128f60357c461cf6451206645d6e4c106888f35cfb078a42298b9a9d3", Runtime: event.RuntimeCRIO,
			Labels: map[string]string{"tier": "test"}, PodName: "web-0", PodNS: "prod", PodUID: recPodUID}, nil},
		{"sandbox gone: labels say the pod", privileged.Status.Id, Info{ID: privileged.Status.Id, Name: "priv", Image: "nginx:1.27", ImageID: "sha256:1234",
			Runtime: event.RuntimeCRIO, Privileged: true, Labels: privileged.Status.Labels, PodName: "label-pod", PodNS: "label-ns", PodUID: "label-uid"}, nil},
		{"the pause container", recSandbox, Info{ID: recSandbox, Name: "web-0", Runtime: event.RuntimeCRIO,
			Labels: map[string]string{"app": "web-0"}, PodName: "web-0", PodNS: "prod", PodUID: recPodUID}, nil},
		{"unknown", "ee" + recContainer[2:], Info{}, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Inspect(ctx, tt.id)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !infoEqual(got, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func infoEqual(a, b Info) bool {
	return reflect.DeepEqual(a, b)
}

func TestCRIContainerdPrivileged(t *testing.T) {
	// containerd's verbose info carries the CreateContainer config.
	cs := &runtimeapi.ContainerStatusResponse{
		Status: &runtimeapi.ContainerStatus{Id: recContainer, Metadata: &runtimeapi.ContainerMetadata{Name: "x"}},
		Info:   map[string]string{"info": `{"sandboxID":"` + recSandbox + `","config":{"linux":{"security_context":{"privileged":true}}}}`},
	}
	info, vi, err := decodeContainerStatus(cs)
	if err != nil || !info.Privileged || vi.SandboxID != recSandbox {
		t.Errorf("got %+v %+v %v", info, vi, err)
	}
	cs.Info["info"] = `{"sandboxID":`
	if _, _, err := decodeContainerStatus(cs); err == nil {
		t.Error("truncated verbose info: no error")
	}
}

func TestCRIDown(t *testing.T) {
	c, err := NewCRI(filepath.Join(t.TempDir(), "absent.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.Inspect(ctx, recContainer); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Inspect with the runtime down: %v, want a failure other than not found", err)
	}
	if err := c.Events(ctx, nil, func(Event) {}); err == nil {
		t.Error("Events with the runtime down: nil error")
	}
	if c, _, err := ProbeCRI(ctx, []string{filepath.Join(t.TempDir(), "none.sock")}, time.Second); c != nil || err == nil {
		t.Errorf("ProbeCRI of no socket: %v, %v", c, err)
	}
}

func TestCRIPollEvents(t *testing.T) {
	f := &fakeCRI{name: "containerd"}
	a, b := recContainer, recSandbox
	f.setRunning(a)
	c, stop := serve(t, f)
	c.poll = 20 * time.Millisecond
	got := make(chan Event, 16)
	connected := make(chan struct{}, 4)
	done := make(chan error, 1)
	go func() {
		done <- c.Events(context.Background(), func() { connected <- struct{}{} }, func(e Event) { got <- e })
	}()
	<-connected
	f.setRunning(b)
	var evs []Event
	for len(evs) < 2 {
		select {
		case e := <-got:
			evs = append(evs, e)
		case <-time.After(5 * time.Second):
			t.Fatalf("events so far %v", evs)
		}
	}
	slices.SortFunc(evs, func(x, y Event) int { return len(x.Action) - len(y.Action) })
	if want := []Event{{"start", b}, {"destroy", a}}; !slices.Equal(evs, want) {
		t.Errorf("events %v, want %v", evs, want)
	}
	stop() // the runtime goes away: Events ends with an error
	select {
	case err := <-done:
		if err == nil {
			t.Error("Events returned nil after the runtime stopped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Events did not end after the runtime stopped")
	}
}

func TestCRIStreamEvents(t *testing.T) {
	f := &fakeCRI{name: "containerd", events: make(chan *runtimeapi.ContainerEventResponse, 2)}
	c, _ := serve(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Event, 4)
	done := make(chan error, 1)
	f.events <- &runtimeapi.ContainerEventResponse{ContainerId: recContainer, ContainerEventType: runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT}
	f.events <- &runtimeapi.ContainerEventResponse{ContainerId: recContainer, ContainerEventType: runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT}
	go func() { done <- c.Events(ctx, nil, func(e Event) { got <- e }) }()
	for _, want := range []Event{{"start", recContainer}, {"destroy", recContainer}} {
		select {
		case e := <-got:
			if e != want {
				t.Errorf("event %v, want %v", e, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no event from the stream")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Events after cancel: %v", err)
	}
}

// TestResolverRuntimes: an id is asked of each runtime until one knows it;
// not found only when all say so; a failing runtime makes it a failure to
// retry, not a final answer.
func TestResolverRuntimes(t *testing.T) {
	docker := newFake()
	cs, ps := loadRecorded(t)
	c, _ := serve(t, &fakeCRI{name: "containerd",
		containers: map[string]*runtimeapi.ContainerStatusResponse{recContainer: cs},
		sandboxes:  map[string]*runtimeapi.PodSandboxStatusResponse{recSandbox: ps}})
	r := NewResolver(Config{Runtime: docker, Runtimes: []Runtime{c}})
	ctx := context.Background()
	info, err := r.Lookup(ctx, recContainer)
	if err != nil || info.PodNS != "prod" || info.Runtime != event.RuntimeContainerd {
		t.Errorf("Lookup of a CRI container: %+v, %v", info, err)
	}
	if _, err := r.Lookup(ctx, "ee"+recContainer[2:]); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of an id no runtime knows: %v", err)
	}
	docker.setUp(false)
	if _, err := r.Lookup(ctx, "dd"+recContainer[2:]); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup with one runtime failing: %v, want a failure", err)
	}
	ev := &event.Event{Container: event.Container{ID: recContainer}}
	r.Enrich(ev)
	if ev.K8s.Pod.Name != "web-0" || ev.K8s.NS.Name != "prod" || ev.K8s.Pod.UID != recPodUID || ev.Container.Name != "app" {
		t.Errorf("Enrich: %+v %+v", ev.Container, ev.K8s)
	}
}

// TestHostPath: in a container sharing the host's pid namespace, overlay
// upperdirs (host paths) are read under /proc/1/root; on the host, as is.
func TestHostPath(t *testing.T) {
	for _, tt := range []struct {
		name       string
		self, init string
		want       string
	}{
		{"on the host", "mnt:[4026531841]", "mnt:[4026531841]", "/var/lib/docker/overlay2/x/diff"},
		{"in a container", "mnt:[4026532512]", "mnt:[4026531841]", "1/root/var/lib/docker/overlay2/x/diff"},
		{"in a container, init refuses", "mnt:[4026532512]", "", "2/root/var/lib/docker/overlay2/x/diff"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proc := t.TempDir()
			for pid, target := range map[string]string{"self": tt.self, "1": tt.init, "2": "mnt:[4026531841]"} {
				if target == "" {
					continue // readlink fails: init refuses
				}
				if err := os.MkdirAll(filepath.Join(proc, pid, "ns"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, filepath.Join(proc, pid, "ns", "mnt")); err != nil {
					t.Fatal(err)
				}
			}
			r := NewResolver(Config{ProcRoot: proc})
			want := tt.want
			if !filepath.IsAbs(want) {
				want = filepath.Join(proc, want)
			}
			if got := r.hostPath("/var/lib/docker/overlay2/x/diff"); got != want {
				t.Errorf("hostPath = %q, want %q", got, want)
			}
		})
	}
}

// FuzzDecodeContainerStatus: any verbose info a runtime sends decodes or
// errors, never panics; privileged comes from one of its two shapes.
func FuzzDecodeContainerStatus(f *testing.F) {
	f.Add(`{"sandboxID":"x","config":{"linux":{"security_context":{"privileged":true}}}}`, "app")
	f.Add(`{"pid":42,"privileged":true}`, "")
	f.Add(`{"privileged":null}`, "x")
	f.Fuzz(func(t *testing.T, raw, name string) {
		cs := &runtimeapi.ContainerStatusResponse{
			Status: &runtimeapi.ContainerStatus{Id: recContainer, Metadata: &runtimeapi.ContainerMetadata{Name: name}},
			Info:   map[string]string{"info": raw},
		}
		info, vi, err := decodeContainerStatus(cs)
		if err != nil {
			return
		}
		if info.ID != recContainer || info.Name != name {
			t.Errorf("id/name %q %q", info.ID, info.Name)
		}
		want := vi.Config.Linux.SecurityContext.Privileged
		if vi.Privileged != nil {
			want = *vi.Privileged
		}
		if info.Privileged != want {
			t.Errorf("privileged %v, want %v", info.Privileged, want)
		}
	})
}
