package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/sources/event"
)

// Config configures a Resolver. The zero value works: no runtime (ids only),
// /proc, default queue and timings.
type Config struct {
	// Runtime answers metadata lookups; nil leaves container.* other than
	// id and runtime empty.
	Runtime Runtime
	// Runtimes are more runtimes asked after Runtime, in order, for a host
	// that runs several (Docker beside a Kubernetes node's containerd).
	// Each keeps its own event stream; an id is asked of each until one
	// knows it.
	Runtimes []Runtime
	// Logger gets state changes (daemon down/up); nil discards.
	Logger *slog.Logger
	// ProcRoot is where proc is mounted; "" means /proc.
	ProcRoot string
	// QueueSize bounds the lookups waiting for the worker (default 256);
	// beyond it lookups are dropped and counted, and retried on a later
	// event of the same container.
	QueueSize int
	// RetryInterval is the least time between two failed lookups of one id
	// (default 2 s).
	RetryInterval time.Duration
	// LookupTimeout bounds one runtime call (default 2 s).
	LookupTimeout time.Duration
	// PIDIn returns a running process of container id (the process
	// table's oldest), or 0. ExeUpperLayer reads the container's overlay
	// from it when the exec'd process is gone before its mountinfo could
	// be read. nil: only the event's own process is asked.
	PIDIn func(id string) int
}

// Stats are the resolver's counters.
type Stats struct {
	Cached   int    // containers with metadata
	Lookups  uint64 // runtime Inspect calls
	Failures uint64 // Inspect calls that failed other than not found
	Dropped  uint64 // lookups dropped because the queue was full
	// UpperUnknown counts execs whose proc.exe_upper_layer could not be
	// decided: no process of the container was left to read its overlay.
	UpperUnknown uint64
}

// Resolver attributes processes to containers and fills container metadata
// from a cache that a background worker keeps filled from the runtime.
type Resolver struct {
	cfg Config
	log *slog.Logger

	queue    chan string
	runtimes []Runtime

	mu      sync.RWMutex
	cache   map[string]*entry
	pending map[string]struct{}
	upper   map[string]string
	ids     map[string]string // interned ids, so Ref allocates nothing on a known container

	hostRootOnce sync.Once
	hostRoot     string // "" in the host's mount namespace, else /proc/{1,2}/root

	lookups, failures, dropped, upperUnknown atomic.Uint64
	down                                     []atomic.Bool // per runtime: its event stream is broken
}

type entry struct {
	info     Info
	known    bool // info came from the runtime
	notFound bool // the runtime said it does not know the id
	lastTry  time.Time
}

// NewResolver returns a resolver; call Run to start its background work.
func NewResolver(cfg Config) *Resolver {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 2 * time.Second
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var rts []Runtime
	if cfg.Runtime != nil {
		rts = append(rts, cfg.Runtime)
	}
	for _, rt := range cfg.Runtimes {
		if rt != nil {
			rts = append(rts, rt)
		}
	}
	return &Resolver{
		runtimes: rts,
		down:     make([]atomic.Bool, len(rts)),
		cfg:      cfg,
		log:      log,
		queue:    make(chan string, cfg.QueueSize),
		cache:    map[string]*entry{},
		pending:  map[string]struct{}{},
		upper:    map[string]string{},
		ids:      map[string]string{},
	}
}

// Run runs the lookup worker and follows the runtime's event stream,
// reconnecting with backoff, until ctx ends. It returns nil on cancellation.
func (r *Resolver) Run(ctx context.Context) error {
	if len(r.runtimes) == 0 {
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.worker(ctx) })
	for i := range r.runtimes {
		wg.Go(func() { r.follow(ctx, i) })
	}
	wg.Wait()
	return nil
}

func (r *Resolver) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-r.queue:
			_, _ = r.inspect(ctx, id)
			r.mu.Lock()
			delete(r.pending, id)
			r.mu.Unlock()
		}
	}
}

// follow keeps the runtime's event stream open. A broken stream usually
// means the daemon went away; its reconnection is the signal to retry the
// lookups that failed meanwhile.
func (r *Resolver) follow(ctx context.Context, i int) {
	const minBackoff, maxBackoff = 250 * time.Millisecond, 15 * time.Second
	backoff := minBackoff
	rt := r.runtimes[i]
	for ctx.Err() == nil {
		err := rt.Events(ctx, func() {
			backoff = minBackoff
			if r.down[i].Swap(false) {
				r.log.Info("container runtime reachable again", "runtime", runtimeLabel(rt))
			}
			r.retryFailed()
		}, r.onEvent)
		if ctx.Err() != nil {
			return
		}
		if !r.down[i].Swap(true) {
			r.log.Warn("container runtime unreachable; its events keep flowing with container ids only", "runtime", runtimeLabel(rt), "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func (r *Resolver) onEvent(e Event) {
	if !isHexID([]byte(e.ID)) {
		return
	}
	switch e.Action {
	case "start", "rename", "update":
		r.request(e.ID, true)
	case "destroy":
		r.mu.Lock()
		delete(r.cache, e.ID)
		delete(r.upper, e.ID)
		delete(r.ids, e.ID)
		r.mu.Unlock()
	}
}

// retryFailed queues every id whose last lookup failed.
func (r *Resolver) retryFailed() {
	r.mu.RLock()
	var ids []string
	for id, e := range r.cache {
		if !e.known && !e.notFound {
			ids = append(ids, id)
		}
	}
	r.mu.RUnlock()
	for _, id := range ids {
		r.request(id, true)
	}
}

// request queues a lookup unless one is pending or, without force, the last
// attempt was recent. It never blocks.
func (r *Resolver) request(id string, force bool) {
	if len(r.runtimes) == 0 {
		return
	}
	r.mu.Lock()
	if _, ok := r.pending[id]; ok {
		r.mu.Unlock()
		return
	}
	if e := r.cache[id]; e != nil && !force && time.Since(e.lastTry) < r.cfg.RetryInterval {
		r.mu.Unlock()
		return
	}
	r.pending[id] = struct{}{}
	r.mu.Unlock()
	select {
	case r.queue <- id:
	default:
		r.dropped.Add(1)
		r.mu.Lock()
		delete(r.pending, id)
		r.mu.Unlock()
	}
}

// inspect asks the runtime and stores the answer.
func (r *Resolver) inspect(ctx context.Context, id string) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.LookupTimeout)
	defer cancel()
	info, err := r.ask(ctx, id)
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= maxCache {
		r.evictUnknown()
	}
	switch {
	case err == nil:
		if info.ID == "" {
			info.ID = id
		}
		r.cache[id] = &entry{info: info, known: true, lastTry: now}
	case errors.Is(err, ErrNotFound):
		r.cache[id] = &entry{notFound: true, lastTry: now}
	default:
		r.failures.Add(1)
		e := r.cache[id]
		if e == nil {
			e = &entry{}
			r.cache[id] = e
		}
		// Keep what an earlier lookup learnt: a daemon restart does not
		// change a container's name.
		e.lastTry = now
	}
	return info, err
}

// ask asks each runtime in turn until one knows id. It returns ErrNotFound
// only when every runtime said so: a failing one may know the id.
func (r *Resolver) ask(ctx context.Context, id string) (Info, error) {
	var errs []error
	for _, rt := range r.runtimes {
		r.lookups.Add(1)
		info, err := rt.Inspect(ctx, id)
		if err == nil {
			return info, nil
		}
		if !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return Info{}, ErrNotFound
	}
	return Info{}, errors.Join(errs...)
}

// allDown reports that every runtime's event stream is broken.
func (r *Resolver) allDown() bool {
	for i := range r.down {
		if !r.down[i].Load() {
			return false
		}
	}
	return true
}

// runtimeLabel names a runtime in logs.
func runtimeLabel(rt Runtime) string {
	if s, ok := rt.(interface{ Socket() string }); ok {
		return s.Socket()
	}
	return fmt.Sprintf("%T", rt)
}

// maxCache bounds the cache. Running containers are far fewer; what fills
// it is ids no runtime knows (another runtime's containers), dropped first.
const maxCache = 8192

func (r *Resolver) evictUnknown() {
	for id, e := range r.cache {
		if !e.known {
			delete(r.cache, id)
		}
	}
	if len(r.cache) >= maxCache {
		clear(r.cache)
	}
}

// Pending reports whether the runtime has not answered for container id
// yet and may: events of such a container lack its name, image and
// privileged flag for now. False for host and unattributed events, with no
// runtime, while the runtime is down, and once it answered (found or not).
func (r *Resolver) Pending(id string) bool {
	if id == "" || id == event.HostID || len(r.runtimes) == 0 || r.allDown() {
		return false
	}
	r.mu.RLock()
	e := r.cache[id]
	r.mu.RUnlock()
	return e == nil || (!e.known && !e.notFound && e.lastTry.IsZero())
}

// Lookup returns a container's metadata, from the cache or synchronously
// from the runtime (for ruled ps / netstat, not for the event path).
func (r *Resolver) Lookup(ctx context.Context, id string) (Info, error) {
	r.mu.RLock()
	e := r.cache[id]
	r.mu.RUnlock()
	if e != nil && e.known {
		return e.info.clone(), nil
	}
	if len(r.runtimes) == 0 {
		return Info{}, ErrNotFound
	}
	info, err := r.inspect(ctx, id)
	if err != nil {
		return Info{}, err
	}
	return info.clone(), nil
}

// cgroupBufs holds read buffers for /proc/PID/cgroup.
var cgroupBufs = sync.Pool{New: func() any { b := make([]byte, 8192); return &b }}

// Ref reads /proc/PID/cgroup and returns the process's container.
func (r *Resolver) Ref(pid int) (Ref, error) {
	p := r.cfg.ProcRoot + "/" + strconv.Itoa(pid) + "/cgroup"
	bp := cgroupBufs.Get().(*[]byte)
	defer cgroupBufs.Put(bp)
	buf := *bp
	// Plain open, read and close: this runs for every exec, and an
	// os.File costs three more system calls.
	n, err := procfs.ReadInto(p, buf)
	if err != nil {
		return Ref{}, err
	}
	return r.RefOf(buf[:n])
}

// RefOf is Ref over the bytes of a /proc/PID/cgroup file the caller read
// (the proc connector source reads it with raw syscalls at receive).
func (r *Resolver) RefOf(cgroup []byte) (Ref, error) {
	id, rt, err := parseCgroup(cgroup)
	if err != nil {
		return Ref{}, err
	}
	if id == nil {
		return Ref{ID: event.HostID}, nil
	}
	return Ref{ID: r.intern(id), Runtime: rt}, nil
}

// ContainerIDOf is ContainerID over the bytes of a /proc/PID/cgroup file.
func (r *Resolver) ContainerIDOf(cgroup []byte) string {
	ref, err := r.RefOf(cgroup)
	if err != nil {
		return ""
	}
	return ref.ID
}

func (r *Resolver) intern(id []byte) string {
	r.mu.RLock()
	s, ok := r.ids[string(id)]
	r.mu.RUnlock()
	if ok {
		return s
	}
	s = string(id)
	r.mu.Lock()
	if len(r.ids) >= 4096 {
		clear(r.ids)
	}
	r.ids[s] = s
	r.mu.Unlock()
	return s
}

// ContainerID returns the container id of a live pid: "host" for a host
// process, "" when its cgroup file could not be read. It fits
// proctable.Table.SetContainerResolver.
func (r *Resolver) ContainerID(pid int) string {
	ref, err := r.Ref(pid)
	if err != nil {
		return ""
	}
	return ref.ID
}

// Enrich fills container.* of ev from the metadata cache. The id is the
// event's: the process table decided it (Decide) and set it, and an event
// without one stays without (Enrich reads no cgroup of its own, so one
// process's events cannot disagree about their container). A cache miss
// queues a lookup and returns at once: later events of the container get
// the metadata. On execve it also sets proc.exe_upper_layer. The Labels map
// is shared between events and must not be modified.
func (r *Resolver) Enrich(ev *event.Event) {
	id := ev.Container.ID
	if id == "" || id == event.HostID {
		return
	}
	r.mu.RLock()
	e := r.cache[id]
	var info Info
	known := e != nil && e.known
	if known {
		info = e.info
	}
	r.mu.RUnlock()
	if known {
		c := &ev.Container
		c.Name, c.Image, c.ImageID, c.Privileged, c.Labels = info.Name, info.Image, info.ImageID, info.Privileged, info.Labels
		if info.Runtime != "" {
			c.Runtime = info.Runtime
		}
		if info.PodName != "" {
			ev.K8s.Pod.Name = info.PodName
		}
		if info.PodNS != "" {
			ev.K8s.NS.Name = info.PodNS
		}
		if info.PodUID != "" {
			ev.K8s.Pod.UID = info.PodUID
		}
	} else if e == nil || !e.notFound {
		r.request(id, false)
	}
	if ev.Evt.Type == event.TypeExecve && ev.Proc.Exe != "" && ev.Proc.PID > 0 && !ev.Proc.ExeUpperLayer {
		if up, err := r.ExeUpperLayer(ev.Proc.PID, id, ev.Proc.Exe); err == nil {
			ev.Proc.ExeUpperLayer = up
		}
	}
}

// ExeUpperLayer reports whether exe lives in the writable overlay layer of
// container id, whose process pid is. The upperdir is a property of the
// container, read once from the mountinfo of pid or, when pid is already
// gone (a dropped binary that ran for a millisecond, and the docker exec'd
// shell that ran it, before their events were enriched), of another of the
// container's processes (Config.PIDIn), or else taken from the runtime's
// metadata when it has come (Info.UpperDir: Docker's overlay2; the process
// table's idea of a live process of the container can be one that has just
// exited, or runc's before its pivot_root). ErrUpperUnknown: none could
// say.
func (r *Resolver) ExeUpperLayer(pid int, id, exe string) (bool, error) {
	if id == "" || id == event.HostID {
		return false, nil
	}
	r.mu.RLock()
	upper, ok := r.upper[id]
	r.mu.RUnlock()
	if !ok {
		upper, ok = r.readUpper(pid)
		if !ok && r.cfg.PIDIn != nil {
			if other := r.cfg.PIDIn(id); other > 0 && other != pid {
				upper, ok = r.readUpper(other)
			}
		}
		if !ok {
			r.mu.RLock()
			if e := r.cache[id]; e != nil && e.known && e.info.UpperDir != "" {
				upper, ok = e.info.UpperDir, true
			}
			r.mu.RUnlock()
		}
		if !ok {
			r.upperUnknown.Add(1)
			return false, ErrUpperUnknown
		}
		if upper != "" {
			upper = r.hostPath(upper)
		}
		r.mu.Lock()
		if len(r.upper) >= 4096 {
			clear(r.upper)
		}
		r.upper[id] = upper
		r.mu.Unlock()
	}
	return inUpper(upper, exe)
}

// hostPath turns a path of the host's mount namespace (an overlay upperdir
// from mountinfo) into one ruled can open: itself when ruled runs in the
// host's mount namespace, else the path under /proc/1/root or
// /proc/2/root (ruled in a container with the host's pid namespace, as the
// image and the DaemonSet run it).
func (r *Resolver) hostPath(p string) string {
	r.hostRootOnce.Do(func() {
		self, err := os.Readlink(filepath.Join(r.cfg.ProcRoot, "self", "ns", "mnt"))
		if err != nil {
			return
		}
		// init, or kthreadd where a VM's init refuses even root (this
		// test VM's does); kernel threads share init's root.
		for _, anchor := range []string{"1", "2"} {
			host, err := os.Readlink(filepath.Join(r.cfg.ProcRoot, anchor, "ns", "mnt"))
			if err != nil {
				continue
			}
			if host != self {
				r.hostRoot = filepath.Join(r.cfg.ProcRoot, anchor, "root")
				r.log.Info("outside the host's mount namespace: host paths are read through a host process's root", "root", r.hostRoot)
			}
			return
		}
	})
	if r.hostRoot == "" {
		return p
	}
	return filepath.Join(r.hostRoot, p)
}

// ErrUpperUnknown says no process of the container could tell its overlay.
var ErrUpperUnknown = errors.New("container's overlay upper layer unknown: no live process to read it from")

// readUpper reads pid's root overlay upperdir; false when pid is gone or
// does not see the container's root yet.
func (r *Resolver) readUpper(pid int) (string, bool) {
	upper, err := RootUpperDir(r.cfg.ProcRoot, pid)
	if err != nil {
		return "", false
	}
	if upper == "" && !procfs.OwnRoot(r.cfg.ProcRoot, pid) {
		// runc init before pivot_root still sees the host's mounts:
		// not the container's answer.
		return "", false
	}
	return upper, true
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	r.mu.RLock()
	n := 0
	for _, e := range r.cache {
		if e.known {
			n++
		}
	}
	r.mu.RUnlock()
	return Stats{Cached: n, Lookups: r.lookups.Load(), Failures: r.failures.Load(), Dropped: r.dropped.Load(), UpperUnknown: r.upperUnknown.Load()}
}
