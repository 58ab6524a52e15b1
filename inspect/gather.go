package inspect

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/netns"
	"github.com/ruled/ruled/sources/enrichers/proctable"
	"github.com/ruled/ruled/sources/event"
)

// Options configure Gather. The zero value reads /proc without a runtime.
type Options struct {
	// ProcRoot is where proc is mounted ("" means /proc).
	ProcRoot string
	// Docker answers the runtime's part; nil or unreachable leaves the
	// report to /proc and the cgroup.
	Docker *container.Docker
	// RuntimeTimeout bounds each runtime call (default 2 s).
	RuntimeTimeout time.Duration
	// AlertFiles are alert JSON-lines files to read; nil means those
	// FindAlertFiles finds through running agents.
	AlertFiles []string
	MaxChanges int
	MaxAlerts  int
	// CgroupRoot is where the cgroup file systems are mounted ("" means
	// /sys/fs/cgroup).
	CgroupRoot string
	// RPM reads rpm databases (nil: QueryRPM).
	RPM    RPMQuery
	Logger *slog.Logger
}

// ErrNoContainer reports a target that names no container.
var ErrNoContainer = errors.New("no container matches")

// snapshot is the host's processes grouped by container.
type snapshot struct {
	procs map[string][]proctable.Process // container id -> processes
	ids   []string                       // sorted container ids (not host)
}

type gatherer struct {
	opt  Options
	proc string
	fsys fs.FS
	log  *slog.Logger
	rep  *Report
	snap snapshot
	// runtimeDown is set at the first runtime failure that is not "no such
	// container": later calls are not tried.
	runtimeDown bool
}

// Gather finds the container target names (a container name, id or id
// prefix, a host pid, an IP address of the container, or a host veth
// interface) and reports on it.
func Gather(ctx context.Context, target string, opt Options) (*Report, error) {
	g := &gatherer{opt: opt, proc: opt.ProcRoot, log: opt.Logger, rep: &Report{}}
	if g.proc == "" {
		g.proc = "/proc"
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.opt.RuntimeTimeout <= 0 {
		g.opt.RuntimeTimeout = 2 * time.Second
	}
	if g.opt.RPM == nil {
		g.opt.RPM = QueryRPM
	}
	g.fsys = os.DirFS(g.proc)
	if opt.Docker == nil {
		g.note("no container runtime asked: answering from /proc and the cgroup")
	}
	if err := g.seed(ctx); err != nil {
		return nil, err
	}
	id, detail, err := g.resolve(ctx, target)
	if err != nil {
		return nil, err
	}
	g.container(id, detail)
	g.processes(id)
	g.sockets(id)
	g.network(detail)
	g.changes(detail)
	g.mounts(id)
	g.packages(ctx)
	g.alerts(id)
	return g.rep, nil
}

func (g *gatherer) note(format string, args ...any) {
	g.rep.Notes = append(g.rep.Notes, fmt.Sprintf(format, args...))
}

// seed reads every process once, with its container and socket stdio.
func (g *gatherer) seed(ctx context.Context) error {
	res := container.NewResolver(container.Config{ProcRoot: g.proc})
	tb := proctable.New(proctable.Config{Proc: g.fsys})
	tb.SetContainerResolver(res.ContainerID)
	cache := netns.NewCache(netns.Config{Proc: g.fsys, Read: g.readSockets})
	tb.SetStdioResolver(cache.CompleteStdio)
	if err := tb.Seed(ctx); err != nil {
		return fmt.Errorf("read processes: %w", err)
	}
	g.snap.procs = map[string][]proctable.Process{}
	for _, p := range tb.Processes() {
		if p.ContainerID == "" || p.ContainerID == event.HostID {
			continue
		}
		g.snap.procs[p.ContainerID] = append(g.snap.procs[p.ContainerID], p)
	}
	for id, ps := range g.snap.procs {
		sort.Slice(ps, func(i, j int) bool { return ps[i].PID < ps[j].PID })
		g.snap.ids = append(g.snap.ids, id)
	}
	sort.Strings(g.snap.ids)
	return nil
}

// readSockets lists a namespace through sock_diag where the default /proc
// is read, else through the proc file system given.
func (g *gatherer) readSockets(pid int) ([]netns.Socket, error) {
	if g.proc == "/proc" {
		return netns.ReadLive(pid)
	}
	return netns.ReadTables(g.fsys, pid)
}

// detail asks the runtime about ref; ok is false when it does not know it
// or does not answer (then runtimeDown is set and a note says why).
func (g *gatherer) detail(ctx context.Context, ref string) (container.Detail, bool) {
	if g.opt.Docker == nil || g.runtimeDown {
		return container.Detail{}, false
	}
	cctx, cancel := context.WithTimeout(ctx, g.opt.RuntimeTimeout)
	defer cancel()
	d, err := g.opt.Docker.Detail(cctx, ref)
	if err == nil {
		return d, true
	}
	if !errors.Is(err, container.ErrNotFound) {
		g.runtimeDown = true
		g.note("runtime not reachable, answering from /proc and the cgroup: %v", err)
	}
	return container.Detail{}, false
}

// resolve turns the target into a container id, with the runtime's detail
// when it answers (Detail.ID empty otherwise).
func (g *gatherer) resolve(ctx context.Context, target string) (string, container.Detail, error) {
	target = strings.TrimSpace(target)
	if target == "" {
		return "", container.Detail{}, fmt.Errorf("%w: empty target", ErrNoContainer)
	}
	// A host pid: digits naming a live process. (An all-digit id prefix
	// that is also a pid is taken as the pid.)
	if pid, err := strconv.Atoi(target); err == nil && pid > 0 {
		if _, err := fs.Stat(g.fsys, target); err == nil {
			id := g.containerOfPID(pid)
			if id == "" || id == event.HostID {
				return "", container.Detail{}, fmt.Errorf("%w: pid %d is a host process", ErrNoContainer, pid)
			}
			d, _ := g.detail(ctx, id)
			return id, d, nil
		}
	}
	if ip, err := netip.ParseAddr(target); err == nil {
		id, err := g.byIP(ip)
		if err != nil {
			return "", container.Detail{}, err
		}
		d, _ := g.detail(ctx, id)
		return id, d, nil
	}
	// A name, id or prefix the runtime knows.
	if d, ok := g.detail(ctx, target); ok {
		return d.ID, d, nil
	}
	if id, ok, err := g.byVeth(target); err != nil || ok {
		if err != nil {
			return "", container.Detail{}, err
		}
		d, _ := g.detail(ctx, id)
		return id, d, nil
	}
	// An id or prefix of a running container, from the cgroups.
	var match []string
	for _, id := range g.snap.ids {
		if strings.HasPrefix(id, strings.ToLower(target)) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 1:
		return match[0], container.Detail{}, nil
	case 0:
		return "", container.Detail{}, fmt.Errorf("%w %q (name, id, id prefix, host pid, IP or host veth)", ErrNoContainer, target)
	default:
		return "", container.Detail{}, fmt.Errorf("%w: id prefix %q is ambiguous (%d containers)", ErrNoContainer, target, len(match))
	}
}

func (g *gatherer) containerOfPID(pid int) string {
	for id, ps := range g.snap.procs {
		for _, p := range ps {
			if p.PID == pid {
				return id
			}
		}
	}
	return container.NewResolver(container.Config{ProcRoot: g.proc}).ContainerID(pid)
}

// initPID is the container's init on the host: its oldest process whose
// parent is outside the container.
func (g *gatherer) initPID(id string) int {
	ps := g.snap.procs[id]
	in := map[int]bool{}
	for _, p := range ps {
		in[p.PID] = true
	}
	best := 0
	var bestStart uint64
	for _, p := range ps {
		if in[p.PPID] {
			continue
		}
		if best == 0 || p.StartTime < bestStart {
			best, bestStart = p.PID, p.StartTime
		}
	}
	return best
}

// containerLinks reads the interfaces of each running container's network
// namespace (once per namespace).
func (g *gatherer) containerLinks() map[string][]Link {
	out := map[string][]Link{}
	seen := map[uint64]bool{}
	for _, id := range g.snap.ids {
		pid := g.initPID(id)
		ino, err := netns.NetNS(g.fsys, pid)
		if err != nil || seen[ino] {
			continue
		}
		seen[ino] = true
		links, err := ReadLinks(filepath.Join(g.proc, strconv.Itoa(pid), "ns", "net"))
		if err != nil {
			g.log.Debug("read container links", "container", id, "err", err)
			continue
		}
		out[id] = links
	}
	return out
}

// byIP finds the container one of whose interfaces has ip. Loopback
// addresses are in every container and name none.
func (g *gatherer) byIP(ip netip.Addr) (string, error) {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return "", fmt.Errorf("%w: %s is in every container", ErrNoContainer, ip)
	}
	var match []string
	for id, links := range g.containerLinks() {
		for _, l := range links {
			if l.HasAddr(ip) {
				match = append(match, id)
				break
			}
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", fmt.Errorf("%w: no running container has address %s", ErrNoContainer, ip)
	default:
		sort.Strings(match)
		return "", fmt.Errorf("%w: %d containers have address %s (separate networks): %s", ErrNoContainer, len(match), ip, strings.Join(match, ", "))
	}
}

// hostLinks reads the host's interfaces: those of init's namespace, or
// where init cannot be inspected (a VM's init may refuse even root), the
// caller's own.
func (g *gatherer) hostLinks() ([]Link, error) {
	links, err := ReadLinks(filepath.Join(g.proc, "1", "ns", "net"))
	if err == nil {
		return links, nil
	}
	if own, err2 := ReadLinks(""); err2 == nil {
		return own, nil
	}
	return nil, err
}

// byVeth finds the container whose interface is the peer of host link
// name. ok is false when the host has no link of that name.
func (g *gatherer) byVeth(name string) (string, bool, error) {
	host, err := g.hostLinks()
	if err != nil {
		return "", false, nil
	}
	var hl *Link
	for i := range host {
		if host[i].Name == name {
			hl = &host[i]
		}
	}
	if hl == nil {
		return "", false, nil
	}
	for id, links := range g.containerLinks() {
		for _, l := range links {
			if p, ok := PeerVeth(l, host); ok && p.Index == hl.Index {
				return id, true, nil
			}
		}
	}
	return "", true, fmt.Errorf("%w: host interface %s is the peer of no running container's interface", ErrNoContainer, name)
}

func (g *gatherer) container(id string, d container.Detail) {
	c := &g.rep.Container
	c.ID = id
	c.InitPID = g.initPID(id)
	if d.ID != "" {
		c.From = "runtime"
		c.Name, c.Image, c.ImageID, c.Runtime = d.Name, d.Image, d.ImageID, d.Runtime
		c.OCIRuntime, c.Created, c.Started, c.State = d.OCIRuntime, d.Created, d.Started, d.State
		priv := d.Privileged
		c.Privileged = &priv
		c.CapAdd, c.CapDrop = d.CapAdd, d.CapDrop
		c.PIDMode = d.PIDMode
		c.Labels = d.Labels
		c.K8sPod, c.K8sNamespace = d.PodName, d.PodNS
		if d.PID > 0 && c.InitPID == 0 {
			c.InitPID = d.PID
		}
		if d.PID > 0 && d.PID != c.InitPID && slices.ContainsFunc(g.snap.procs[id], func(p proctable.Process) bool { return p.PID == d.PID }) {
			c.InitPID = d.PID
		}
	} else {
		c.From = "proc"
		if ps := g.snap.procs[id]; len(ps) > 0 && c.InitPID > 0 {
			for _, p := range ps {
				if p.PID == c.InitPID {
					c.Started = g.startTime(p.StartTime)
				}
			}
		}
		if len(g.snap.procs[id]) > 0 && c.InitPID > 0 {
			c.State = "running"
			if g.frozen(c.InitPID) {
				c.State = "paused"
			}
		}
	}
	if c.CapAdd == nil {
		c.CapAdd = []string{}
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	if c.InitPID == 0 {
		g.note("container %s has no running process: processes, sockets, network, changes, mounts and packages come from a running container only", id)
		c.CapEffective = []string{}
		return
	}
	ref, err := container.NewResolver(container.Config{ProcRoot: g.proc}).Ref(c.InitPID)
	if err == nil && c.Runtime == "" {
		c.Runtime = ref.Runtime
	}
	if b, err := fs.ReadFile(g.fsys, strconv.Itoa(c.InitPID)+"/status"); err == nil {
		c.CapEffective = CapEffective(b)
	}
	if c.CapEffective == nil {
		c.CapEffective = []string{}
	}
	for _, p := range g.snap.procs[id] {
		if p.PID == c.InitPID {
			c.PIDNamespace, c.NetNamespace = uint64(p.NS.PID), uint64(p.NS.Net)
		}
	}
}

// frozen reports whether pid's cgroup is frozen (docker pause): the v1
// freezer's freezer.state, or v2's cgroup.freeze.
func (g *gatherer) frozen(pid int) bool {
	b, err := fs.ReadFile(g.fsys, strconv.Itoa(pid)+"/cgroup")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		var file string
		switch {
		case slices.Contains(strings.Split(f[1], ","), "freezer"):
			file = filepath.Join(g.cgroupRoot(), "freezer", f[2], "freezer.state")
		case f[0] == "0" && f[1] == "":
			file = filepath.Join(g.cgroupRoot(), f[2], "cgroup.freeze")
			if _, err := os.Stat(filepath.Join(g.cgroupRoot(), "unified")); err == nil {
				file = filepath.Join(g.cgroupRoot(), "unified", f[2], "cgroup.freeze")
			}
		default:
			continue
		}
		if st, err := os.ReadFile(file); err == nil {
			v := strings.TrimSpace(string(st))
			if v == "FROZEN" || v == "FREEZING" || v == "1" {
				return true
			}
		}
	}
	return false
}

func (g *gatherer) cgroupRoot() string {
	if g.opt.CgroupRoot != "" {
		return g.opt.CgroupRoot
	}
	return "/sys/fs/cgroup"
}

// bootTime is btime of /proc/stat, for process start times.
func (g *gatherer) bootTime() time.Time {
	b, err := fs.ReadFile(g.fsys, "stat")
	if err != nil {
		return time.Time{}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(s, 0).UTC()
			}
		}
	}
	return time.Time{}
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's starttime: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

func (g *gatherer) startTime(ticks uint64) time.Time {
	bt := g.bootTime()
	if bt.IsZero() {
		return time.Time{}
	}
	return bt.Add(time.Duration(ticks) * time.Second / clockTicks)
}

// processes lists the container's processes as a tree: each parent before
// its children, depth-first, roots (parent outside the container) first.
func (g *gatherer) processes(id string) {
	ps := g.snap.procs[id]
	byPID := map[int]proctable.Process{}
	children := map[int][]int{}
	for _, p := range ps {
		byPID[p.PID] = p
	}
	var roots []int
	for _, p := range ps {
		if _, ok := byPID[p.PPID]; ok && p.PPID != p.PID {
			children[p.PPID] = append(children[p.PPID], p.PID)
		} else {
			roots = append(roots, p.PID)
		}
	}
	bt := g.bootTime()
	out := []Process{}
	var walk func(pid, depth int)
	walk = func(pid, depth int) {
		p := byPID[pid]
		r := Process{
			PID: p.PID, PPID: p.PPID, VPID: p.VPID, User: p.User, UID: p.UID, Name: p.Name,
			Exe: p.Exe, Cmdline: p.Cmdline, Depth: depth,
		}
		if !bt.IsZero() {
			r.Started = bt.Add(time.Duration(p.StartTime) * time.Second / clockTicks)
		}
		for i, dst := range []**event.Stdio{&r.Stdin, &r.Stdout, &r.Stderr} {
			if p.Stdio[i].Type == event.StdioSocket {
				s := p.Stdio[i]
				*dst = &s
			}
		}
		out = append(out, r)
		for _, c := range children[pid] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	g.rep.Processes = out
}

// sockets lists every socket of the container's network namespace with the
// container processes that hold it.
func (g *gatherer) sockets(id string) {
	g.rep.Sockets = []Socket{}
	pid := g.rep.Container.InitPID
	if pid == 0 {
		return
	}
	socks, err := g.readSockets(pid)
	if err != nil {
		g.note("sockets: %v", err)
		return
	}
	holders := map[uint64][]int{}
	for _, p := range g.snap.procs[id] {
		for ino := range netns.PIDInodes(g.fsys, p.PID) {
			holders[ino] = append(holders[ino], p.PID)
		}
	}
	for _, s := range socks {
		r := Socket{
			Proto: s.Kind.String(), State: s.StateName(), Local: s.Local.String(), Remote: s.Remote.String(), Inode: s.Inode,
		}
		if hs := holders[s.Inode]; s.Inode != 0 && len(hs) > 0 {
			slices.Sort(hs)
			r.PID, r.PIDs = hs[0], hs
			r.Exe, _ = fs.ReadLink(g.fsys, strconv.Itoa(hs[0])+"/exe")
		}
		g.rep.Sockets = append(g.rep.Sockets, r)
	}
}

// network lists the container's interfaces with their host veth peers.
func (g *gatherer) network(d container.Detail) {
	g.rep.Network = Network{Interfaces: []Link{}, Networks: d.Networks}
	if g.rep.Network.Networks == nil {
		g.rep.Network.Networks = []container.Network{}
	}
	pid := g.rep.Container.InitPID
	if pid == 0 {
		return
	}
	links, err := ReadLinks(filepath.Join(g.proc, strconv.Itoa(pid), "ns", "net"))
	if err != nil {
		g.note("network interfaces: %v", err)
		return
	}
	host, err := g.hostLinks()
	if err != nil {
		g.note("host interfaces: %v", err)
	}
	for i := range links {
		if p, ok := PeerVeth(links[i], host); ok {
			links[i].HostVeth = &p
		}
	}
	g.rep.Network.Interfaces = links
}

// changes walks the container's writable overlay layer.
func (g *gatherer) changes(d container.Detail) {
	g.rep.Changes = []Change{}
	pid := g.rep.Container.InitPID
	if pid == 0 {
		return
	}
	mounts, err := g.mountinfo(pid)
	if err != nil {
		g.note("changes: %v", err)
		return
	}
	var upper string
	var lowers []string
	for _, m := range mounts {
		if m.MountPoint != "/" {
			continue
		}
		upper, lowers = "", nil // a later mount on "/" hides an earlier one
		if m.FSType != "overlay" {
			continue
		}
		upper, _ = m.SuperOption("upperdir")
		if l, ok := m.SuperOption("lowerdir"); ok {
			lowers = strings.Split(l, ":")
		}
	}
	if upper == "" {
		upper = d.UpperDir
	}
	if upper == "" {
		g.note("changes: the container's root is not an overlay with an upper directory")
		return
	}
	g.rep.Container.UpperDir = upper
	var lfs []fs.FS
	for _, l := range lowers {
		if l != "" {
			lfs = append(lfs, os.DirFS(l))
		}
	}
	list, more, err := Changes(os.DirFS(upper), lfs, g.opt.MaxChanges)
	if err != nil {
		g.note("changes: %v", err)
		return
	}
	if more > 0 {
		g.note("changes: %d more entries in the upper layer not listed", more)
	}
	g.rep.Changes = list
}

func (g *gatherer) mountinfo(pid int) ([]container.Mount, error) {
	f, err := g.fsys.Open(strconv.Itoa(pid) + "/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return container.ParseMountinfo(f)
}

func (g *gatherer) mounts(id string) {
	g.rep.Mounts = []Mount{}
	pid := g.rep.Container.InitPID
	if pid == 0 {
		return
	}
	ctr, err := g.mountinfo(pid)
	if err != nil {
		g.note("mounts: %v", err)
		return
	}
	host, err := g.mountinfo(1)
	if err != nil {
		host, err = g.mountinfo(os.Getpid())
	}
	if err != nil {
		g.note("mounts: host mounts unreadable, host paths unknown: %v", err)
	}
	g.rep.Mounts = Mounts(ctr, host, id)
}

func (g *gatherer) packages(ctx context.Context) {
	g.rep.Packages = []Package{}
	pid := g.rep.Container.InitPID
	if pid == 0 {
		return
	}
	root := filepath.Join(g.proc, strconv.Itoa(pid), "root")
	pkgs, errs := Packages(ctx, os.DirFS(root), root, g.opt.RPM)
	for _, err := range errs {
		g.note("packages: %v", err)
	}
	if pkgs != nil {
		g.rep.Packages = pkgs
	}
}

// maxAlertTail is how much of the end of an alert file is read.
const maxAlertTail = 16 << 20

func (g *gatherer) alerts(id string) {
	g.rep.Alerts = []event.Alert{}
	files := g.opt.AlertFiles
	if files == nil {
		for _, f := range FindAlertFiles(g.fsys) {
			files = append(files, filepath.Join(g.proc, f.Path))
			g.note("alerts: reading %s (%s)", f.Path, f.How)
		}
		if len(files) == 0 {
			g.note("alerts: no running ruled agent with a file output found; give the file with -alerts")
			return
		}
	}
	for _, p := range files {
		as, err := readAlertTail(p, id, g.opt.MaxAlerts)
		if err != nil {
			g.note("alerts: %v", err)
			continue
		}
		g.rep.Alerts = append(g.rep.Alerts, as...)
	}
	sort.SliceStable(g.rep.Alerts, func(i, j int) bool { return g.rep.Alerts[i].Time.Before(g.rep.Alerts[j].Time) })
	if max := g.opt.MaxAlerts; max > 0 && len(g.rep.Alerts) > max {
		g.rep.Alerts = g.rep.Alerts[len(g.rep.Alerts)-max:]
	}
}

func readAlertTail(p, id string, max int) ([]event.Alert, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxAlertTail {
		if _, err := f.Seek(-maxAlertTail, io.SeekEnd); err != nil {
			return nil, err
		}
	}
	as, err := ReadAlerts(f, id, max)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return as, nil
}
