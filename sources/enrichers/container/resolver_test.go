package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// fakeRuntime is a runtime whose availability the test switches.
type fakeRuntime struct {
	mu       sync.Mutex
	up       bool
	infos    map[string]Info
	inspects int
	block    chan struct{} // when set, Inspect waits on it
	events   chan Event
	conns    int
}

func newFake() *fakeRuntime {
	return &fakeRuntime{up: true, infos: map[string]Info{}, events: make(chan Event, 16)}
}

var errDown = errors.New("connection refused")

func (f *fakeRuntime) setUp(up bool) {
	f.mu.Lock()
	f.up = up
	f.mu.Unlock()
}

func (f *fakeRuntime) Inspect(ctx context.Context, id string) (Info, error) {
	f.mu.Lock()
	f.inspects++
	block, up := f.block, f.up
	info, ok := f.infos[id]
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return Info{}, ctx.Err()
		}
	}
	if !up {
		return Info{}, errDown
	}
	if !ok {
		return Info{}, ErrNotFound
	}
	return info, nil
}

func (f *fakeRuntime) Events(ctx context.Context, connected func(), fn func(Event)) error {
	f.mu.Lock()
	up := f.up
	f.mu.Unlock()
	if !up {
		return errDown
	}
	f.mu.Lock()
	f.conns++
	f.mu.Unlock()
	connected()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-f.events:
			if e.Action == "close" {
				return errDown
			}
			fn(e)
		}
	}
}

func (f *fakeRuntime) inspectCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inspects
}

func startResolver(t *testing.T, cfg Config) *Resolver {
	t.Helper()
	r := NewResolver(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// eventually polls cond; the resolver fills its cache asynchronously.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func enrichID(r *Resolver, id string) event.Event {
	ev := event.Event{Evt: event.Evt{Type: event.TypeConnect}}
	ev.Container.ID = id
	r.Enrich(&ev)
	return ev
}

var webInfo = Info{
	ID: fixtureID, Name: "web", Image: "nginx:1", ImageID: "sha256:abc", Runtime: event.RuntimeDocker,
	Privileged: true, Labels: map[string]string{LabelPodName: "web-0", LabelPodNamespace: "prod"},
	PodName: "web-0", PodNS: "prod",
}

func TestEnrichMissThenHit(t *testing.T) {
	f := newFake()
	f.infos[fixtureID] = webInfo
	r := startResolver(t, Config{Runtime: f})

	ev := enrichID(r, fixtureID)
	if ev.Container.Name != "" {
		// The first event may race the worker only if Enrich blocked.
		t.Fatalf("first event got name %q: Enrich must not wait for the runtime", ev.Container.Name)
	}
	eventually(t, "metadata in cache", func() bool { return enrichID(r, fixtureID).Container.Name == "web" })
	ev = enrichID(r, fixtureID)
	want := event.Container{ID: fixtureID, Name: "web", Image: "nginx:1", ImageID: "sha256:abc", Runtime: "docker", Privileged: true, Labels: webInfo.Labels}
	if ev.Container.Name != want.Name || ev.Container.Image != want.Image || ev.Container.ImageID != want.ImageID ||
		ev.Container.Runtime != want.Runtime || !ev.Container.Privileged || ev.Container.Labels[LabelPodName] != "web-0" {
		t.Errorf("container = %+v, want %+v", ev.Container, want)
	}
	if ev.K8s.Pod.Name != "web-0" || ev.K8s.NS.Name != "prod" {
		t.Errorf("k8s = %+v", ev.K8s)
	}
	if n := f.inspectCount(); n != 1 {
		t.Errorf("inspects = %d, want 1 (dedup and cache)", n)
	}
}

func TestEnrichHostAndEmpty(t *testing.T) {
	f := newFake()
	r := NewResolver(Config{Runtime: f, ProcRoot: "testdata/proc"})
	ev := enrichID(r, event.HostID)
	if ev.Container.Name != "" || len(r.queue) != 0 {
		t.Errorf("host event queued a lookup or got a name: %+v", ev.Container)
	}
	// No id on the event: the process table decides ids (Decide); Enrich
	// reads no cgroup of its own.
	ev = event.Event{Proc: event.Proc{PID: 100}}
	r.Enrich(&ev)
	if ev.Container.ID != "" || ev.Container.Runtime != "" || len(r.queue) != 0 {
		t.Errorf("event without an id got container %+v", ev.Container)
	}
	if got := r.ContainerID(1); got != event.HostID {
		t.Errorf("ContainerID(1) = %q, want host", got)
	}
	if got := r.ContainerID(999999); got != "" {
		t.Errorf("vanished pid got id %q, want empty", got)
	}
	if got := r.ContainerID(100); got != recordedID {
		t.Errorf("ContainerID(100) = %q", got)
	}
}

func TestDaemonDownThenBack(t *testing.T) {
	f := newFake()
	f.infos[fixtureID] = webInfo
	f.setUp(false)
	r := startResolver(t, Config{Runtime: f, RetryInterval: time.Hour})

	ev := enrichID(r, fixtureID)
	if ev.Container.ID != fixtureID || ev.Container.Name != "" {
		t.Fatalf("down daemon: %+v", ev.Container)
	}
	eventually(t, "failed lookup", func() bool { return r.Stats().Failures >= 1 })
	// RetryInterval is long: only the reconnecting event stream can bring
	// the name back.
	f.setUp(true)
	eventually(t, "name after daemon returns", func() bool { return enrichID(r, fixtureID).Container.Name == "web" })
}

func TestKnownNameSurvivesDaemonRestart(t *testing.T) {
	f := newFake()
	f.infos[fixtureID] = webInfo
	r := startResolver(t, Config{Runtime: f, RetryInterval: time.Millisecond})
	enrichID(r, fixtureID)
	eventually(t, "name", func() bool { return enrichID(r, fixtureID).Container.Name == "web" })
	f.setUp(false)
	// A start or rename event asks for a refresh; the daemon is gone.
	r.request(fixtureID, true)
	eventually(t, "failed refresh", func() bool { return r.Stats().Failures >= 1 })
	if got := enrichID(r, fixtureID).Container.Name; got != "web" {
		t.Errorf("name after failed refresh = %q, want web kept", got)
	}
}

func TestEventsRenameAndDestroy(t *testing.T) {
	f := newFake()
	f.infos[fixtureID] = webInfo
	r := startResolver(t, Config{Runtime: f, RetryInterval: time.Hour})
	enrichID(r, fixtureID)
	eventually(t, "name", func() bool { return enrichID(r, fixtureID).Container.Name == "web" })

	renamed := webInfo
	renamed.Name = "web2"
	f.mu.Lock()
	f.infos[fixtureID] = renamed
	f.mu.Unlock()
	f.events <- Event{Action: "rename", ID: fixtureID}
	eventually(t, "renamed", func() bool { return enrichID(r, fixtureID).Container.Name == "web2" })

	f.events <- Event{Action: "destroy", ID: fixtureID}
	eventually(t, "destroyed", func() bool { return r.Stats().Cached == 0 })
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	f := newFake()
	f.block = make(chan struct{})
	r := startResolver(t, Config{Runtime: f, QueueSize: 2})
	defer close(f.block)
	ids := []string{}
	for c := range "0123456789" {
		ids = append(ids, fixtureID[:63]+string("0123456789"[c]))
	}
	done := make(chan struct{})
	go func() {
		for _, id := range ids {
			enrichID(r, id)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Enrich blocked on a stuck runtime")
	}
	// One in the worker, two queued, the rest dropped.
	if d := r.Stats().Dropped; d < 7 {
		t.Errorf("dropped = %d, want >= 7", d)
	}
}

func TestNotFoundIsNotRetriedOnEveryEvent(t *testing.T) {
	f := newFake()
	r := startResolver(t, Config{Runtime: f})
	enrichID(r, fixtureID)
	eventually(t, "not found", func() bool { r.mu.RLock(); defer r.mu.RUnlock(); return f.inspectCount() == 1 && len(r.pending) == 0 })
	for range 100 {
		enrichID(r, fixtureID)
	}
	time.Sleep(20 * time.Millisecond)
	if n := f.inspectCount(); n != 1 {
		t.Errorf("inspects = %d, want 1", n)
	}
	if _, err := r.Lookup(context.Background(), fixtureID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup err = %v, want ErrNotFound", err)
	}
}

func TestLookupSynchronous(t *testing.T) {
	f := newFake()
	f.infos[fixtureID] = webInfo
	r := NewResolver(Config{Runtime: f})
	info, err := r.Lookup(context.Background(), fixtureID)
	if err != nil || info.Name != "web" {
		t.Fatalf("Lookup = %+v, %v", info, err)
	}
	// Served from cache now, and a clone: the caller may modify it.
	info.Labels["x"] = "y"
	info2, _ := r.Lookup(context.Background(), fixtureID)
	if _, ok := info2.Labels["x"]; ok || f.inspectCount() != 1 {
		t.Errorf("second Lookup shared labels or asked the runtime again (inspects %d)", f.inspectCount())
	}
	if _, err := NewResolver(Config{}).Lookup(context.Background(), fixtureID); !errors.Is(err, ErrNotFound) {
		t.Errorf("no runtime: err = %v", err)
	}
}

// fakeOverlayProc returns a fake proc root whose pid 7 has an overlay root
// with /tmp/x in its upper layer.
func fakeOverlayProc(t *testing.T) string {
	t.Helper()
	proc, upper := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, "7"), 0o755); err != nil {
		t.Fatal(err)
	}
	mi := "72 48 0:39 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=" + upper + ",workdir=/w\n"
	if err := os.WriteFile(filepath.Join(proc, "7", "mountinfo"), []byte(mi), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(upper, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "tmp", "x"), []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	return proc
}

func TestExeUpperLayerFromMountinfo(t *testing.T) {
	proc := fakeOverlayProc(t)
	r := NewResolver(Config{ProcRoot: proc})
	ev := event.Event{Evt: event.Evt{Type: event.TypeExecve}, Proc: event.Proc{PID: 7, Exe: "/tmp/x"}, Container: event.Container{ID: fixtureID}}
	r.Enrich(&ev)
	if !ev.Proc.ExeUpperLayer {
		t.Error("/tmp/x: exe_upper_layer false, want true")
	}
	ev = event.Event{Evt: event.Evt{Type: event.TypeExecve}, Proc: event.Proc{PID: 7, Exe: "/bin/busybox"}, Container: event.Container{ID: fixtureID}}
	r.Enrich(&ev)
	if ev.Proc.ExeUpperLayer {
		t.Error("/bin/busybox: exe_upper_layer true, want false")
	}
	// Cached per container: a second pid of the container needs no mountinfo.
	if up, err := r.ExeUpperLayer(8, fixtureID, "/tmp/x"); err != nil || !up {
		t.Errorf("cached upper: %v, %v", up, err)
	}
	if up, err := r.ExeUpperLayer(8, event.HostID, "/tmp/x"); err != nil || up {
		t.Errorf("host: %v, %v", up, err)
	}
}

// The drift race (issue 14): `docker exec C sh -c 'cp /bin/busybox /tmp/x &&
// /tmp/x true'` in a container started before ruled. Nothing of that exec
// lives by the time its events are enriched, and no earlier exec of the
// container filled the cache: the overlay comes from another process of the
// container.
func TestExeUpperLayerOfGoneProcess(t *testing.T) {
	proc := fakeOverlayProc(t)
	// pid 9 (the dropped binary) has no /proc entry any more.
	alone := NewResolver(Config{ProcRoot: proc})
	if up, err := alone.ExeUpperLayer(9, fixtureID, "/tmp/x"); up || !errors.Is(err, ErrUpperUnknown) {
		t.Errorf("no other process to ask: %v, %v; want false, ErrUpperUnknown", up, err)
	}
	if n := alone.Stats().UpperUnknown; n != 1 {
		t.Errorf("UpperUnknown = %d, want 1", n)
	}
	asked := ""
	r := NewResolver(Config{ProcRoot: proc, PIDIn: func(id string) int { asked = id; return 7 }})
	ev := event.Event{Evt: event.Evt{Type: event.TypeExecve}, Proc: event.Proc{PID: 9, Exe: "/tmp/x"}, Container: event.Container{ID: fixtureID}}
	r.Enrich(&ev)
	if !ev.Proc.ExeUpperLayer || asked != fixtureID {
		t.Errorf("exe_upper_layer %v (asked for %q), want true from pid 7's overlay", ev.Proc.ExeUpperLayer, asked)
	}
}

// The same drift race when no process of the container the table knows as
// live can tell its overlay (the one it names has just exited, or is runc's
// before its pivot_root): the runtime's metadata says, once it has come.
func TestExeUpperLayerFromRuntime(t *testing.T) {
	proc := fakeOverlayProc(t)
	upper := t.TempDir()
	if err := os.MkdirAll(filepath.Join(upper, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "tmp", "x"), []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := newFake()
	f.infos[fixtureID] = Info{ID: fixtureID, Name: "c", UpperDir: upper}
	// pid 9 (the dropped binary) and pid 8 (the process the table names)
	// are gone.
	r := NewResolver(Config{Runtime: f, ProcRoot: proc, PIDIn: func(string) int { return 8 }})
	if up, err := r.ExeUpperLayer(9, fixtureID, "/tmp/x"); up || !errors.Is(err, ErrUpperUnknown) {
		t.Fatalf("before the metadata: %v, %v; want false, ErrUpperUnknown", up, err)
	}
	if _, err := r.Lookup(context.Background(), fixtureID); err != nil {
		t.Fatal(err)
	}
	if up, err := r.ExeUpperLayer(9, fixtureID, "/tmp/x"); err != nil || !up {
		t.Errorf("with the metadata: %v, %v; want true", up, err)
	}
	if up, err := r.ExeUpperLayer(9, fixtureID, "/bin/busybox"); err != nil || up {
		t.Errorf("a file of the image: %v, %v; want false", up, err)
	}
	if n := r.Stats().UpperUnknown; n != 1 {
		t.Errorf("UpperUnknown = %d, want 1", n)
	}
}

// runc init's first exec events come before pivot_root: its mountinfo is
// the host's. That answer must not stick to the container.
func TestExeUpperLayerNotCachedBeforePivot(t *testing.T) {
	proc, host, upper := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{"1", "7"} {
		if err := os.MkdirAll(filepath.Join(proc, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(host, filepath.Join(proc, "1", "root")); err != nil {
		t.Fatal(err)
	}
	root7 := filepath.Join(proc, "7", "root")
	if err := os.Symlink(host, root7); err != nil {
		t.Fatal(err)
	}
	mi := filepath.Join(proc, "7", "mountinfo")
	if err := os.WriteFile(mi, []byte("22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "x"), []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := NewResolver(Config{ProcRoot: proc})
	if up, err := r.ExeUpperLayer(7, fixtureID, "/x"); !errors.Is(err, ErrUpperUnknown) || up {
		t.Fatalf("before pivot_root: %v, %v", up, err)
	}
	// pivot_root done: the process's root and mounts are the container's.
	if err := os.Remove(root7); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), root7); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mi, []byte("72 48 0:39 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir="+upper+",workdir=/w\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if up, err := r.ExeUpperLayer(7, fixtureID, "/x"); err != nil || !up {
		t.Errorf("after pivot_root: %v, %v (the host's answer was cached)", up, err)
	}
}

func BenchmarkEnrichCached(b *testing.B) {
	f := newFake()
	f.infos[fixtureID] = webInfo
	r := NewResolver(Config{Runtime: f})
	if _, err := r.Lookup(context.Background(), fixtureID); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ev := event.Event{Container: event.Container{ID: fixtureID}}
		r.Enrich(&ev)
		if ev.Container.Name != "web" {
			b.Fatal("miss")
		}
	}
}

func BenchmarkEnrichCachedFromCgroup(b *testing.B) {
	f := newFake()
	f.infos[recordedID] = webInfo
	r := NewResolver(Config{Runtime: f, ProcRoot: "testdata/proc"})
	if _, err := r.Lookup(context.Background(), recordedID); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ev := event.Event{Proc: event.Proc{PID: 100}}
		ev.Container.ID = r.ContainerID(100) // the process table's read
		r.Enrich(&ev)
		if ev.Container.Name != "web" {
			b.Fatal("miss")
		}
	}
}

func TestPending(t *testing.T) {
	f := newFake()
	f.infos[fixtureID] = webInfo
	r := NewResolver(Config{Runtime: f})
	const other = "1111111111111111111111111111111111111111111111111111111111111111"
	if r.Pending(event.HostID) || r.Pending("") {
		t.Error("host and unattributed events are never pending")
	}
	if !r.Pending(fixtureID) || !r.Pending(other) {
		t.Error("containers the runtime has not answered for are pending")
	}
	if _, err := r.Lookup(context.Background(), fixtureID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(context.Background(), other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if r.Pending(fixtureID) || r.Pending(other) {
		t.Error("answered (found or not) is not pending")
	}
	if NewResolver(Config{}).Pending(fixtureID) {
		t.Error("without a runtime nothing is pending")
	}
}
