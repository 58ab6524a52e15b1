package proctable

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/sources/event"
)

// Defaults of Config.
const (
	DefaultMax      = 65536
	DefaultLinger   = 5 * time.Second
	DefaultMaxDepth = 64
	DefaultEnvMax   = 4096
)

var _ sources.Enricher = (*Table)(nil)

// Process is the table's view of one process (a thread group).
type Process struct {
	PID, PPID, SID, VPID int
	PGID                 int // at exec (or seed); a fork inherits it
	// ExeFile is the executable's stat at the last exec (or seed), read
	// only while a rule reads proc.exe_ino* or proc.exe_writable.
	ExeFile              procfs.ExeFile
	Name                 string
	Exe                  string
	Args                 []string // shared with events: replaced, never modified in place
	Cmdline              string
	Cwd                  string
	UID, GID, EUID, AUID int
	User                 string
	TTY                  bool
	// Capability sets at the last exec (or seed), as CAP_* names shared
	// through procfs.CapNames.
	CapEff, CapPrm, CapInh []string
	Env                    []string
	Stdio                  [3]event.Stdio
	// StdioInodes are the socket (or pipe) inodes of fds 0-2, for the
	// network namespace code to resolve a socket's two ends (see
	// Table.SetStdioResolver).
	StdioInodes [3]uint64
	NS          event.NS
	// ContainerID is what the container resolver returned at exec (or
	// seed) time, inherited by forks; empty when no resolver is set.
	ContainerID string
	StartTime   uint64 // clock ticks after boot, from /proc
	// Started is when the process began: its fork event's time, else
	// StartTime on the wall clock; zero when unknown (proc.duration).
	Started time.Time
	// Exited is when the process's exit was seen; zero while it runs.
	Exited time.Time
	// Partial means /proc could not be read when the process was seen
	// (already gone): fields come from its events and its parent only.
	Partial bool

	execAt time.Time // when the last exec was applied
	// twinDue: the last exec was read from /proc at the proc connector's
	// report of it, and audit's record of that exec has not been observed
	// yet (see observeDup).
	twinDue bool
	// pcRead: the last exec was read from /proc at the proc connector's
	// report of it (lean or not), and audit's record of that exec has not
	// been observed yet: the record needs no read of its own.
	pcRead bool
	// auditFirst: the last exec was applied from audit's record (and read
	// from /proc then, unless Partial) and the proc connector's report of
	// that exec has not been observed yet: the report needs no read.
	auditFirst bool
	// mntHost: the last exec was in the host's mount namespace and its
	// container id came from its kin, its cgroup unread (kinClues); a fork
	// seen after that exec completes it from the parent.
	mntHost bool
	// readGone: the last exec's read found the process gone from /proc
	// (or was skipped because an earlier one had): a report of that exec
	// observed later reads nothing (see observeExec).
	readGone bool
}

// Config configures a Table. The zero value reads the live /proc.
type Config struct {
	// Proc is /proc; nil means procfs.Dir("/proc").
	Proc fs.FS
	// Passwd is the host's passwd file for proc.user; "" means /etc/passwd.
	Passwd string
	// Group is the host's group file for proc.group; "" means /etc/group.
	Group string
	// Max bounds the number of processes kept; 0 means DefaultMax.
	Max int
	// Linger is how long an exited process stays, so late audit records
	// and its children still find it; 0 means DefaultLinger.
	Linger time.Duration
	// EnvMax bounds proc.env: bytes of /proc/PID/environ read at exec.
	// 0 means DefaultEnvMax; negative reads no environment.
	EnvMax int
	// MaxDepth bounds proc.anames; 0 means DefaultMaxDepth.
	MaxDepth int
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Stats are the table's counters.
type Stats struct {
	Live      int    // processes running
	Exited    int    // exited processes still kept
	Inserted  uint64 // processes added
	Evicted   uint64 // exited processes removed after Linger
	CapHits   uint64 // processes not added because the table was full
	ProcReads uint64 // /proc process reads
	ProcGone  uint64 // /proc reads of processes already gone
	Misses    uint64 // Enrich of a pid the table does not know
	Resyncs   uint64 // Seed/Resync passes
	Reparents uint64 // ppid changes seen after a parent exited
}

// Table is the process table. Create with New.
type Table struct {
	cfg    Config
	log    *slog.Logger
	reader *procfs.Reader
	now    func() time.Time

	mu        sync.RWMutex
	procs     map[int]*Process
	exited    []exitRec // FIFO by exit time
	lastSweep time.Time
	stats     Stats
	misses    atomic.Uint64
	procReads atomic.Uint64 // Stats.ProcReads
	procGone  atomic.Uint64 // Stats.ProcGone

	resolverMu  sync.RWMutex
	containerOf func(pid int) string
	stdioOf     func(pid, fd int, inode uint64, s *event.Stdio)
	auditCovers func() bool
	fieldUse    func(field string) bool
	readGuide   func(c Clue) procfs.Fields

	// auditExecAt is when audit last reported an exec with its executable
	// (unix ns); see SetAuditExecs.
	auditExecAt atomic.Int64

	usersMu    sync.Mutex
	users      map[int]pwEntry
	usersRead  time.Time
	groups     map[int]string
	groupsRead time.Time
	bootTime   time.Time // the wall clock at StartTime 0, from /proc/stat's btime
	hostMnt    int
	hostPidNS  int // ours: a process in it has vpid == pid
	// initMnt is init's mount namespace, the host's (ours is a
	// container's when ruled runs in one): see InitMountNS.
	initMnt int
	// hostMountRule: see SetHostMountRule.
	hostMountRule atomic.Bool
}

type exitRec struct {
	pid int
	at  time.Time
}

// New returns an empty table; call Seed to fill it from /proc.
func New(cfg Config) *Table {
	if cfg.Proc == nil {
		cfg.Proc = procfs.Dir("/proc")
	}
	if cfg.Passwd == "" {
		cfg.Passwd = "/etc/passwd"
	}
	if cfg.Group == "" {
		cfg.Group = "/etc/group"
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = DefaultMaxDepth
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Table{
		cfg:    cfg,
		log:    log,
		reader: procfs.New(cfg.Proc),
		now:    cfg.Now,
		procs:  make(map[int]*Process),
	}
	switch {
	case cfg.EnvMax == 0:
		t.reader.EnvMax = DefaultEnvMax
	case cfg.EnvMax > 0:
		t.reader.EnvMax = cfg.EnvMax
	}
	// Our own mount namespace stands for "the host" when naming users: a
	// process in another one reads another passwd file.
	if b, err := fs.ReadFile(cfg.Proc, "stat"); err == nil {
		if sec, ok := parseBtime(b); ok {
			t.bootTime = time.Unix(sec, 0)
		}
	}
	if pid, err := selfPID(cfg.Proc); err == nil {
		ns := t.reader.NSOf(pid)
		t.hostMnt, t.hostPidNS = int(ns.Mnt), int(ns.PID)
	}
	t.initMnt = int(procfs.HostMountNS(cfg.Proc))
	return t
}

// InitMountNS is the inode of init's mount namespace, the host's
// (procfs.HostMountNS), or 0 when it could not be read: for procconn.Config.HostMountNS. A proc connector
// exec that carries it (ns.mnt) and no container id is of a process whose
// cgroup was not read; observeExec decides its id from its kin
// (container.Clues.HostMount) and reads no cgroup either.
func (t *Table) InitMountNS() uint64 { return uint64(t.initMnt) }

// SetHostMountRule applies the proc connector's rule (procconn.Config.
// HostMountNS) to the execs audit reports before it does: their mount
// namespace is read first and their cgroup only outside the host's. Set
// when the proc connector runs; with audit alone every exec's cgroup is
// read.
func (t *Table) SetHostMountRule(on bool) { t.hostMountRule.Store(on) }

// clkTck is USER_HZ, the unit of /proc/PID/stat's start time: 100 on every
// Linux architecture ruled builds for.
const clkTck = 100

// parseBtime returns the boot time (seconds since the epoch) from a
// /proc/stat file's btime line.
func parseBtime(b []byte) (int64, bool) {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// startedAt is the wall-clock time of a /proc start time (clock ticks
// after boot); zero when either is unknown.
func (t *Table) startedAt(ticks uint64) time.Time {
	if ticks == 0 || t.bootTime.IsZero() {
		return time.Time{}
	}
	return t.bootTime.Add(time.Duration(ticks) * (time.Second / clkTck))
}

func selfPID(fsys fs.FS) (int, error) {
	s, err := fs.ReadLink(fsys, "self")
	if err != nil {
		return 0, err
	}
	var pid int
	if _, err := fmt.Sscanf(s, "%d", &pid); err != nil {
		return 0, err
	}
	return pid, nil
}

// SetContainerResolver sets the function that returns the container id of
// a live pid (from /proc/PID/cgroup): "host" for a host process, "" when
// unknown. It is called once per exec and per seeded process, outside the
// table lock; forks inherit their parent's value. Set it before Seed.
func (t *Table) SetContainerResolver(f func(pid int) string) {
	t.resolverMu.Lock()
	t.containerOf = f
	t.resolverMu.Unlock()
}

// SetStdioResolver sets the function that completes a socket on a standard
// descriptor (l4proto, sip, sport, rip, rport, name) from its inode. Enrich
// calls it outside the table lock for every stdio of type socket; it must
// not block (serve from a cache).
func (t *Table) SetStdioResolver(f func(pid, fd int, inode uint64, s *event.Stdio)) {
	t.resolverMu.Lock()
	t.stdioOf = f
	t.resolverMu.Unlock()
}

// SetAuditExecs tells the table that audit runs beside the proc connector
// and reports every exec (covers says whether its rules still do: an
// execve rule without filters, installed by ruled). While covers is true
// and audit's exec records keep coming (one in the last auditExecWindow),
// a proc connector exec reads from /proc only what audit's record of it
// lacks: stat, the standard descriptors and the namespaces. The record,
// observed a few milliseconds later, brings the executable, argv, cwd and
// ids (overlay); until then the entry has its parent's ids. An exec whose
// record never comes (counted as alone in the exec merge stats) goes out
// without executable and argv.
func (t *Table) SetAuditExecs(covers func() bool) {
	t.resolverMu.Lock()
	t.auditCovers = covers
	t.resolverMu.Unlock()
}

// SetFieldUse tells the table which event fields the loaded rules read
// (uses reports one dotted name, as engine.FieldSet.Has does); nil, the
// default, means every field (`ruled events`, the Falco plugin, whose
// consumers may read any). An exec then leaves out the /proc reads that
// only feed fields no rule reads: the environment (proc.env), the
// capability sets (proc.cap_*), the network namespace (ns.net) and the
// executable's stat (proc.exe_ino*, proc.exe_writable); they stay
// empty (unknown) in that process's entry and events until its next exec
// after a rule set that reads them is loaded. The pid and mount namespaces
// are read always: the table needs them for proc.vpid and proc.user.
// uses is called per exec, concurrently with a rule reload.
func (t *Table) SetFieldUse(uses func(field string) bool) {
	t.resolverMu.Lock()
	t.fieldUse = uses
	t.resolverMu.Unlock()
}

// Clue is what the table knows cheaply of a process when it decides on
// an optional read: "" is unknown.
type Clue struct {
	Name        string // comm of the new image, as the exec event says
	Exe         string // the executable, when the exec event carries it
	ContainerID string // read at the exec ("host" or an id)
	// Dup: the read is a dup record's descriptor, which serves the dup
	// event itself (fd.*) and becomes the process's stdio.
	Dup bool
}

// guidedParts are the parts SetReadGuide can leave out.
const guidedParts = procfs.FieldStdio | procfs.FieldEnv | procfs.FieldCaps

// SetReadGuide refines SetFieldUse per process: needs returns which of the
// standard descriptors (procfs.FieldStdio), the environment and the
// capability sets a process described by c may need, from the loaded
// rules' conditions (engine.Guide); a part it leaves out stays empty in
// that process's entry until its next exec. For a dup (c.Dup) only
// FieldStdio counts: without it the dup's descriptor is not read. nil,
// the default, reads them all. needs is called per exec and per dup onto
// fds 0-2, concurrently with a rule reload.
func (t *Table) SetReadGuide(needs func(c Clue) procfs.Fields) {
	t.resolverMu.Lock()
	t.readGuide = needs
	t.resolverMu.Unlock()
}

// guided returns the guide, nil when there is none.
func (t *Table) guided() func(c Clue) procfs.Fields {
	t.resolverMu.RLock()
	g := t.readGuide
	t.resolverMu.RUnlock()
	return g
}

// unread are the optional parts of an exec's /proc read that feed only
// fields no loaded rule reads (see SetFieldUse).
func (t *Table) unread() procfs.Fields {
	t.resolverMu.RLock()
	uses := t.fieldUse
	t.resolverMu.RUnlock()
	if uses == nil {
		return 0
	}
	var f procfs.Fields
	if !uses("proc.env") {
		f |= procfs.FieldEnv
	}
	if !uses("proc.cap_effective") && !uses("proc.cap_permitted") && !uses("proc.cap_inheritable") {
		f |= procfs.FieldCaps
	}
	if !uses("ns.net") {
		f |= procfs.FieldNSNet
	}
	if !uses("proc.exe_ino") && !uses("proc.exe_ino_ctime") && !uses("proc.exe_ino_mtime") && !uses("proc.exe_writable") {
		f |= procfs.FieldExeStat
	}
	return f
}

// auditExecWindow is how recent audit's last exec record must be for a
// proc connector exec to rely on audit for the rest.
const auditExecWindow = 2 * time.Second

// fromAudit are the parts of a /proc read an audit exec record carries.
const fromAudit = procfs.FieldStatus | procfs.FieldLoginUID | procfs.FieldCmdline | procfs.FieldExe | procfs.FieldCwd

// auditBrings reports whether audit's record of a proc connector exec
// observed now will bring fromAudit.
func (t *Table) auditBrings(now time.Time) bool {
	t.resolverMu.RLock()
	covers := t.auditCovers
	t.resolverMu.RUnlock()
	return covers != nil && now.UnixNano()-t.auditExecAt.Load() < int64(auditExecWindow) && covers()
}

// AuditBringsExecs reports whether audit's record of an exec reported now
// will carry its executable, name and argv (see SetAuditExecs); the proc
// connector's receive thread then leaves those to it.
func (t *Table) AuditBringsExecs() bool { return t.auditBrings(t.now()) }

// Stats returns the counters.
func (t *Table) Stats() Stats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s := t.stats
	s.Misses = t.misses.Load()
	s.ProcReads, s.ProcGone = t.procReads.Load(), t.procGone.Load()
	s.Exited = len(t.exited)
	s.Live = len(t.procs) - s.Exited
	return s
}

// Seed fills the table from a /proc snapshot so that processes older than
// ruled have parents, ancestors and containers. It may be called again
// (Resync) after events were lost.
func (t *Table) Seed(ctx context.Context) error {
	pids, err := t.reader.PIDs()
	if err != nil {
		return fmt.Errorf("seed process table: %w", err)
	}
	present := make(map[int]struct{}, len(pids))
	for _, pid := range pids {
		if ctx.Err() != nil {
			return nil
		}
		present[pid] = struct{}{}
		t.mu.RLock()
		old, known := t.procs[pid]
		var start uint64
		if known {
			start = old.StartTime
		}
		t.mu.RUnlock()
		if known {
			// Same process (pid not reused): only the parent may have
			// changed (reparenting while we were not listening).
			st, err := t.reader.Stat(pid)
			if err == nil && st.StartTime == start {
				t.mu.Lock()
				if p := t.procs[pid]; p != nil && p.PPID != st.PPID {
					p.PPID = st.PPID
					t.stats.Reparents++
				}
				t.mu.Unlock()
				continue
			}
		}
		p, ok := t.read(pid, nil, procfs.AllFields)
		if !ok {
			continue
		}
		p.ContainerID = container.Decide(container.Clues{Now: t.resolveContainer(pid)})
		t.mu.Lock()
		t.put(p)
		t.mu.Unlock()
	}
	now := t.now()
	t.mu.Lock()
	for pid, p := range t.procs {
		if _, ok := present[pid]; !ok && p.Exited.IsZero() {
			t.markExited(p, now)
		}
	}
	t.stats.Resyncs++
	t.mu.Unlock()
	return nil
}

// Resync re-reads /proc after the proc connector lost events; for
// procconn.Config.Resync.
func (t *Table) Resync() {
	if err := t.Seed(context.Background()); err != nil {
		t.log.Warn("resync process table", "error", err)
	}
}

// Get returns a copy of the process pid.
func (t *Table) Get(pid int) (Process, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p, ok := t.procs[pid]
	if !ok {
		return Process{}, false
	}
	return *p, true
}

// OldestIn returns the lowest running pid attributed to container id (its
// init, usually, which outlives the short processes whose events name the
// container), or 0. It scans the table: for occasional use.
func (t *Table) OldestIn(id string) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	best := 0
	for pid, p := range t.procs {
		if p.ContainerID == id && p.Exited.IsZero() && (best == 0 || pid < best) {
			best = pid
		}
	}
	return best
}

// Processes returns copies of every running process.
func (t *Table) Processes() []Process {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Process, 0, len(t.procs))
	for _, p := range t.procs {
		if p.Exited.IsZero() {
			out = append(out, *p)
		}
	}
	return out
}

// Ancestors returns the names of pid's ancestors, parent first.
func (t *Table) Ancestors(pid int) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p, ok := t.procs[pid]
	if !ok {
		return nil
	}
	return t.anames(p.PPID)
}

// read reads pid from /proc into a new Process (outside the lock): the
// parts in want (with stat), procfs.AllFields but for an exec (see
// observeExec). exec is that exec's event, nil for other reads.
func (t *Table) read(pid int, exec *event.Event, want procfs.Fields) (*Process, bool) {
	p, err := t.readErr(pid, exec, want)
	return p, err == nil
}

// readErr is read with the read's error (matching fs.ErrNotExist when the
// process is gone).
func (t *Table) readErr(pid int, exec *event.Event, want procfs.Fields) (*Process, error) {
	rp, err := t.reader.ProcessFields(pid, want)
	// Counted without t.mu: a write lock per read waited for every
	// Enrich holding the read lock.
	t.procReads.Add(1)
	if err != nil {
		t.procGone.Add(1)
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			t.log.Debug("read process", "pid", pid, "error", err)
		}
		return nil, err
	}
	p := &Process{
		PID: rp.PID, PPID: rp.PPID, SID: rp.SID, VPID: rp.VPID, PGID: rp.PGID,
		Name: rp.Comm, Exe: rp.Exe, Args: rp.Args, Cmdline: strings.Join(rp.Args, " "),
		Cwd: rp.Cwd, UID: rp.UID, GID: rp.GID, EUID: rp.EUID, AUID: rp.AUID,
		TTY: rp.TTY, StartTime: rp.StartTime, Started: t.startedAt(rp.StartTime),
		CapEff: procfs.CapNames(rp.CapEff), CapPrm: procfs.CapNames(rp.CapPrm), CapInh: procfs.CapNames(rp.CapInh),
		Env: rp.Env, ExeFile: rp.ExeFile,
		NS: event.NS{PID: int(rp.NS.PID), Net: int(rp.NS.Net), Mnt: int(rp.NS.Mnt)},
	}
	if p.AUID < 0 {
		p.AUID = 0
	}
	if want&procfs.FieldNSMnt == 0 && exec != nil && p.NS.Mnt == 0 {
		p.NS.Mnt = exec.NS.Mnt // read at the exec (carried)
	}
	if want&procfs.FieldStatus == 0 {
		// An audit exec's ids are the truth (overlay copies them too);
		// name the user after them. (A proc connector exec's come from
		// its parent, in observeExec, until audit's record.) The pid
		// inside the process's namespace is its pid when that is ours;
		// only another pid namespace's needs status.
		if e := &exec.Proc; exec.Evt.Source != event.SourceProcconn {
			p.UID, p.GID, p.EUID, p.AUID = e.UID, e.GID, e.EUID, e.AUID
		}
		if p.NS.PID != 0 && p.NS.PID == t.hostPidNS {
			p.VPID = p.PID
		} else if rp.VPID != 0 {
			p.VPID = rp.VPID // status was read for the capabilities
		} else if ss, err := t.reader.Status(pid); err == nil {
			p.VPID = ss.VPID()
		}
	}
	for i, s := range rp.Stdio {
		p.Stdio[i] = event.Stdio{Type: s.Type, Name: s.Name}
		p.StdioInodes[i] = s.Inode
	}
	if want&procfs.FieldStatus != 0 || exec.Evt.Source != event.SourceProcconn {
		p.User = t.userOf(p.UID, p.NS.Mnt)
	}
	// Resolve socket stdio now, while the process and its socket exist:
	// its events may be enriched later (the exec merge window) when a
	// short-lived process and its connection are gone.
	t.resolveStdio(pid, [3]*event.Stdio{&p.Stdio[0], &p.Stdio[1], &p.Stdio[2]}, p.StdioInodes)
	return p, nil
}

// readParts adds to p, just read, the guided parts in want (see
// observeExec); a process gone since keeps them empty.
func (t *Table) readParts(p *Process, want procfs.Fields) {
	if want == 0 {
		return
	}
	// No second check that the process exists (getsid): it did a moment
	// ago, and a part of one gone since reads empty.
	rp := t.reader.Parts(p.PID, want)
	if want&procfs.FieldEnv != 0 {
		p.Env = rp.Env
	}
	if want&procfs.FieldCaps != 0 {
		p.CapEff, p.CapPrm, p.CapInh = procfs.CapNames(rp.CapEff), procfs.CapNames(rp.CapPrm), procfs.CapNames(rp.CapInh)
	}
	if want&procfs.FieldStdio != 0 {
		for i, s := range rp.Stdio {
			p.Stdio[i] = event.Stdio{Type: s.Type, Name: s.Name}
			p.StdioInodes[i] = s.Inode
		}
		t.resolveStdio(p.PID, [3]*event.Stdio{&p.Stdio[0], &p.Stdio[1], &p.Stdio[2]}, p.StdioInodes)
	}
}

// resolveStdio asks the stdio resolver for the ends of the socket
// descriptors that do not have them yet.
func (t *Table) resolveStdio(pid int, stdio [3]*event.Stdio, inodes [3]uint64) {
	t.resolverMu.RLock()
	resolve := t.stdioOf
	t.resolverMu.RUnlock()
	if resolve == nil {
		return
	}
	for i, s := range stdio {
		if s != nil && s.Type == event.StdioSocket && inodes[i] != 0 && s.L4Proto == "" && s.RIP == "" {
			resolve(pid, i, inodes[i], s)
		}
	}
}

func (t *Table) resolveContainer(pid int) string {
	t.resolverMu.RLock()
	f := t.containerOf
	t.resolverMu.RUnlock()
	if f == nil {
		return ""
	}
	return f(pid)
}

// put inserts or replaces p; t.mu held. It reports false when the table is
// full of running processes.
func (t *Table) put(p *Process) bool {
	if old, ok := t.procs[p.PID]; ok {
		if !old.Exited.IsZero() {
			// The pid was reused while the old entry lingered: the old
			// process's FIFO record must not evict the new one.
			t.forgetExit(p.PID)
		}
		t.procs[p.PID] = p
		return true
	}
	if len(t.procs) >= t.cfg.Max {
		t.evict(t.now(), true)
		if len(t.procs) >= t.cfg.Max {
			t.stats.CapHits++
			return false
		}
	}
	t.procs[p.PID] = p
	t.stats.Inserted++
	return true
}

func (t *Table) markExited(p *Process, at time.Time) {
	if !p.Exited.IsZero() {
		return
	}
	p.Exited = at
	t.exited = append(t.exited, exitRec{pid: p.PID, at: at})
}

func (t *Table) forgetExit(pid int) {
	for i := range t.exited {
		if t.exited[i].pid == pid {
			t.exited = append(t.exited[:i], t.exited[i+1:]...)
			return
		}
	}
}

// evict removes exited processes older than Linger (all of them when
// force: the table is full). t.mu held.
func (t *Table) evict(now time.Time, force bool) {
	n := 0
	for n < len(t.exited) {
		r := t.exited[n]
		if !force && now.Sub(r.at) < t.cfg.Linger {
			break
		}
		if p, ok := t.procs[r.pid]; ok && p.Exited.Equal(r.at) {
			delete(t.procs, r.pid)
			t.stats.Evicted++
		}
		n++
	}
	if n > 0 {
		t.exited = append(t.exited[:0], t.exited[n:]...)
	}
}

// anames walks up from ppid; t.mu held (read).
func (t *Table) anames(ppid int) []string {
	var out []string
	pid := ppid
	for depth := 0; pid > 0 && depth < t.cfg.MaxDepth; depth++ {
		a, ok := t.procs[pid]
		if !ok {
			break
		}
		if out == nil {
			out = make([]string, 0, 8)
		}
		out = append(out, a.Name)
		if a.PPID == pid {
			break
		}
		pid = a.PPID
	}
	return out
}

// userOf names uid from the host passwd file for processes in the host's
// mount namespace. Elsewhere (containers) only uid 0 is certain to be root.
func (t *Table) userOf(uid, mnt int) string {
	if t.hostMnt != 0 && mnt != 0 && mnt != t.hostMnt {
		if uid == 0 {
			return "root"
		}
		return ""
	}
	return t.userEntry(uid).Name
}

// inHost reports whether a process in mount namespace mnt reads the host's
// passwd and group files.
func (t *Table) inHost(mnt int) bool {
	return t.hostMnt == 0 || mnt == 0 || mnt == t.hostMnt
}

// names sets e's home directory, shell, login name and group name from the
// host's passwd and group files, under one lock: for a process in the host's
// mount namespace; elsewhere only gid 0 is certain to be root.
func (t *Table) names(e *event.Proc, mnt int) {
	if !t.inHost(mnt) {
		if e.GID == 0 {
			e.Group = "root"
		}
		return
	}
	t.usersMu.Lock()
	defer t.usersMu.Unlock()
	u := t.userLocked(e.UID)
	e.HomeDir, e.Shell = u.Home, u.Shell
	if e.AUID >= 0 && e.AUID != unsetAUID {
		e.LoginName = t.userLocked(e.AUID).Name
	}
	e.Group = t.groupLocked(e.GID)
}

// userEntry is uid's entry in the host passwd file (zero when none).
func (t *Table) userEntry(uid int) pwEntry {
	t.usersMu.Lock()
	defer t.usersMu.Unlock()
	return t.userLocked(uid)
}

// userLocked is userEntry with t.usersMu held.
func (t *Table) userLocked(uid int) pwEntry {
	if e, ok := t.users[uid]; ok {
		return e
	}
	// A miss re-reads the file, at most every 10 s: useradd while running.
	if t.users != nil && time.Since(t.usersRead) < 10*time.Second {
		return pwEntry{}
	}
	t.usersRead = time.Now()
	f, err := os.Open(t.cfg.Passwd)
	if err != nil {
		t.users = map[int]pwEntry{}
		return pwEntry{}
	}
	defer f.Close()
	t.users = parsePasswd(f)
	return t.users[uid]
}

// groupLocked names gid from the host group file; t.usersMu held.
func (t *Table) groupLocked(gid int) string {
	if name, ok := t.groups[gid]; ok {
		return name
	}
	if t.groups != nil && time.Since(t.groupsRead) < 10*time.Second {
		return ""
	}
	t.groupsRead = time.Now()
	f, err := os.Open(t.cfg.Group)
	if err != nil {
		t.groups = map[int]string{}
		return ""
	}
	defer f.Close()
	t.groups = parseGroup(f)
	return t.groups[gid]
}

func errGone(err error) bool { return errors.Is(err, fs.ErrNotExist) }
