package proctable

import (
	"strconv"
	"strings"
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/sources/event"
)

// sweepEvery is how often Observe evicts exited processes and re-reads the
// parent of orphans.
const sweepEvery = time.Second

// Observe updates the table from an event: fork, execve, exit, setuid and
// comm change it; any other event of a pid the table does not know reads
// that pid from /proc. Call it for every event, from one goroutine, as soon
// as the event arrives (before Merger's window) so /proc is read while a
// short process still exists.
func (t *Table) Observe(ev *event.Event) {
	pid := ev.Proc.PID
	if pid <= 0 {
		return
	}
	now := t.now()
	switch ev.Evt.Type {
	case event.TypeFork:
		t.observeFork(ev)
	case event.TypeExecve:
		if ev.Evt.Success {
			t.observeExec(ev, now)
		} else {
			t.ensure(ev)
		}
	case event.TypeExit:
		t.observeExit(ev, now)
	case event.TypeSetuid:
		if ev.Evt.Source == event.SourceProcconn {
			t.mu.Lock()
			if p := t.procs[pid]; p != nil {
				p.UID, p.EUID = ev.Proc.UID, ev.Proc.EUID
				p.User = ""
				uid, mnt := p.UID, p.NS.Mnt
				t.mu.Unlock()
				user := t.userOf(uid, mnt)
				t.mu.Lock()
				if p := t.procs[pid]; p != nil && p.UID == uid {
					p.User = user
				}
			}
			t.mu.Unlock()
		} else {
			t.ensure(ev)
		}
	case event.TypeDup:
		t.ensure(ev)
		t.observeDup(ev, now)
	case event.TypeComm:
		t.mu.Lock()
		if p := t.procs[pid]; p != nil && ev.Proc.Name != "" {
			p.Name = ev.Proc.Name
		}
		t.mu.Unlock()
	default:
		t.ensure(ev)
	}
	t.maybeSweep(now)
}

// observeDup describes in ev.FD what a dup2/dup3 put on a standard
// descriptor (audit says only the numbers) and keeps it as the process's
// new stdio.
//
// When the process's last exec was read from /proc at the proc
// connector's report and audit's record of that exec has not come yet,
// the dup came before that exec (audit reports one task's system calls in
// order), so the exec's read of the descriptor already shows what the dup
// put there, or what replaced it since, as a read now would: no read. A
// shell redirection and every spawner that sets a child's stdio dup onto
// fds 0-2 right before exec, so this is the common case under load. Else
// the one descriptor is read from /proc now, while it is there.
func (t *Table) observeDup(ev *event.Event, now time.Time) {
	fd := ev.Arg.FD
	if fd < 0 || fd > 2 || !ev.Evt.Success {
		return
	}
	pid := ev.Proc.PID
	var s event.Stdio
	var inode uint64
	t.mu.RLock()
	p := t.procs[pid]
	fromExec := p != nil && p.twinDue && now.Sub(p.execAt) < twinWait && p.Stdio[fd].Type != ""
	if fromExec {
		s, inode = p.Stdio[fd], p.StdioInodes[fd]
	}
	t.mu.RUnlock()
	if !fromExec {
		if g := t.guided(); g != nil {
			t.mu.RLock()
			var c Clue
			gone := false
			if p := t.procs[pid]; p != nil {
				c = Clue{Name: p.Name, Exe: p.Exe, ContainerID: p.ContainerID, Dup: true}
				// Its exec found it gone from /proc (a short process
				// whose records come late): so would this read.
				gone = p.Partial && !p.execAt.IsZero()
			}
			t.mu.RUnlock()
			if gone || g(c)&procfs.FieldStdio == 0 {
				return
			}
		}
		rs := t.reader.StdioFD(pid, fd)
		if rs.Type == "" {
			return
		}
		s, inode = event.Stdio{Type: rs.Type, Name: rs.Name}, rs.Inode
		var ptrs [3]*event.Stdio
		var inodes [3]uint64
		ptrs[fd], inodes[fd] = &s, inode // the resolver asks about fd itself
		t.resolveStdio(pid, ptrs, inodes)
	}
	switch {
	case s.Type != event.StdioSocket:
		ev.FD.Type = event.FDFile
		if s.Type == event.StdioFile {
			ev.FD.Name = s.Name
		}
	case strings.Contains(s.SIP, ":"):
		ev.FD.Type = event.FDIPv6
	case s.SIP != "":
		ev.FD.Type = event.FDIPv4
	}
	if s.Type == event.StdioSocket {
		ev.FD.L4Proto, ev.FD.SIP, ev.FD.SPort, ev.FD.RIP, ev.FD.RPort = s.L4Proto, s.SIP, s.SPort, s.RIP, s.RPort
		if s.SIP != "" {
			ev.FD.Name = s.SIP + ":" + strconv.Itoa(s.SPort) + "->" + s.RIP + ":" + strconv.Itoa(s.RPort)
		}
	}
	if fromExec {
		return
	}
	t.mu.Lock()
	if p := t.procs[pid]; p != nil {
		p.Stdio[fd], p.StdioInodes[fd] = s, inode
	}
	t.mu.Unlock()
}

// twinWait bounds how long after a proc connector exec observeDup trusts
// that audit's record of it is still to come: past it the record is
// counted lost (the exec merge waits as long), and a later dup reads
// /proc.
const twinWait = time.Second

// Knows reports whether the table has pid (running, or exited and not
// yet evicted).
func (t *Table) Knows(pid int) bool {
	t.mu.RLock()
	_, ok := t.procs[pid]
	t.mu.RUnlock()
	return ok
}

// ensure makes sure pid is in the table, reading /proc once if not.
func (t *Table) ensure(ev *event.Event) {
	t.mu.RLock()
	_, ok := t.procs[ev.Proc.PID]
	t.mu.RUnlock()
	if ok {
		return
	}
	// A process of which audit reports a system call but no exec runs its
	// parent's image. With the proc connector running, the pipeline's
	// order stage has already waited for its fork (a barrier on that
	// socket): it never had one to come (an overflow, a process older than
	// the seed). Without it, its fork may still be due. Either way it is
	// where its parent is, as at fork, unless its cgroup says otherwise;
	// a fork that comes later completes it.
	p, ok := t.read(ev.Proc.PID, nil, procfs.AllFields)
	now := ""
	if ok {
		// Read, but its cgroup may not be (it exited since).
		now = t.resolveContainer(p.PID)
	} else {
		// Gone already: keep what the event says so later events and the
		// exit find the process and its parent.
		p = &Process{PID: ev.Proc.PID, PPID: ev.Proc.PPID, Partial: true}
	}
	t.mu.RLock()
	parentID := ""
	if pp := t.procs[ev.Proc.PPID]; pp != nil && ev.Proc.PPID != 0 {
		parentID = pp.ContainerID
		if !ok {
			inherit(p, pp)
		}
	}
	t.mu.RUnlock()
	p.ContainerID = container.Decide(container.Clues{Now: now, Parent: parentID})
	if !ok {
		t.overlay(p, ev)
	}
	t.mu.Lock()
	if _, raced := t.procs[p.PID]; !raced {
		t.put(p)
	}
	t.mu.Unlock()
}

func (t *Table) observeFork(ev *event.Event) {
	child, parent := ev.Proc.PID, ev.Proc.PPID
	t.mu.Lock()
	pp := t.procs[parent]
	if c := t.procs[child]; c != nil && c.Exited.IsZero() {
		// Exec (or exit) of the child was seen before its fork: events
		// of different CPUs arrive out of order. Keep what the exec
		// learned; fill in the parent and what a child inherits.
		if c.PPID == 0 {
			c.PPID = parent
		}
		if pp != nil && (c.Partial || c.mntHost) {
			if c.Partial {
				inherit(c, pp)
			}
			// An exec in the host's mount namespace (its cgroup unread)
			// met before its fork had no parent to take an escape's
			// container from: the parent completes the decision.
			c.ContainerID = container.Decide(container.Clues{HostMount: c.mntHost, Before: c.ContainerID, Parent: pp.ContainerID})
		}
		t.mu.Unlock()
		return
	}
	if pp != nil {
		c := *pp
		c.PID, c.PPID = child, parent
		// At fork a child is where its parent is (a runtime's child
		// joins the container's cgroup later, before its exec).
		c.ContainerID = container.Decide(container.Clues{Parent: pp.ContainerID})
		c.Exited, c.StartTime, c.execAt, c.Partial = time.Time{}, 0, time.Time{}, pp.Partial
		c.Started = ev.Evt.Time
		c.twinDue, c.pcRead, c.auditFirst, c.mntHost, c.readGone = false, false, false, false, false
		if ev.Proc.SID != 0 {
			c.SID = ev.Proc.SID
		}
		t.put(&c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	// Parent unknown (lost events): the child most likely still runs.
	c, ok := t.read(child, nil, procfs.AllFields)
	if !ok {
		c = &Process{PID: child, Partial: true}
	} else {
		c.ContainerID = container.Decide(container.Clues{Now: t.resolveContainer(child)})
	}
	c.PPID = parent
	t.mu.Lock()
	t.put(c)
	t.mu.Unlock()
}

// adoptResolved completes p's socket stdio from a process that holds the
// same socket and had it resolved (the fork copy it replaces, its parent):
// a process that exits between the read of /proc/PID/fd and the lookup in
// its network namespace (`id` run by a reverse shell lives a millisecond)
// would otherwise keep a socket without its ends. t.mu held.
func adoptResolved(p *Process, from ...*Process) {
	for i := range p.Stdio {
		s := &p.Stdio[i]
		if s.Type != event.StdioSocket || s.L4Proto != "" || p.StdioInodes[i] == 0 {
			continue
		}
		for _, f := range from {
			if f == nil {
				continue
			}
			for j := range f.Stdio {
				if f.StdioInodes[j] == p.StdioInodes[i] && f.Stdio[j].L4Proto != "" {
					*s = f.Stdio[j]
				}
			}
		}
	}
}

// runtimeChildID is the container a child of pp joins when pp is a
// container runtime (runc exec, a shim, conmon) whose command line names
// it: a docker exec'd command gone before its cgroup could be read is in
// that container, not in the runtime's (the host).
func runtimeChildID(pp *Process) string {
	return container.RuntimeArgsID(pp.Name, pp.Args)
}

// inherit copies from parent what survives fork and exec, except the
// container id, which the caller decides (container.Decide).
func inherit(c, parent *Process) {
	if c.NS == (event.NS{}) {
		c.NS = parent.NS
	}
	if c.Cwd == "" {
		c.Cwd = parent.Cwd
	}
	if c.SID == 0 {
		c.SID = parent.SID
	}
	if c.Stdio == ([3]event.Stdio{}) {
		c.Stdio, c.StdioInodes = parent.Stdio, parent.StdioInodes
		c.TTY = parent.TTY
	}
	if c.User == "" && c.UID == 0 && c.EUID == 0 {
		c.UID, c.GID, c.EUID, c.AUID, c.User = parent.UID, parent.GID, parent.EUID, parent.AUID, parent.User
	}
	if c.CapEff == nil && c.CapPrm == nil && c.EUID == 0 && parent.EUID == 0 {
		// root keeps its capability sets across exec (no file caps, no
		// setuid drop): the parent's are the child's.
		c.CapEff, c.CapPrm, c.CapInh = parent.CapEff, parent.CapPrm, parent.CapInh
	}
}

func (t *Table) observeExec(ev *event.Event, now time.Time) {
	pid := ev.Proc.PID
	if ev.Evt.Source == event.SourceAudit && ev.Proc.Exe != "" {
		t.auditExecAt.Store(now.UnixNano())
	}
	// The proc connector's exec thread read the standard descriptors of a
	// container's process as it received the exec (procconn: before the
	// new program could dup2 onto them): they are the process's, without
	// their sockets' ends yet; the event gets them resolved, from the
	// table, like any exec.
	var atExec [3]event.Stdio
	hasAtExec := ev.Evt.Source == event.SourceProcconn && ev.Proc.Stdin.Type != ""
	if hasAtExec {
		atExec = [3]event.Stdio{ev.Proc.Stdin, ev.Proc.Stdout, ev.Proc.Stderr}
		ev.Proc.Stdin, ev.Proc.Stdout, ev.Proc.Stderr = event.Stdio{}, event.Stdio{}, event.Stdio{}
	}
	t.mu.RLock()
	old := t.procs[pid]
	recent := old != nil && !old.Partial && now.Sub(old.execAt) < time.Second
	var skipRead bool
	if ev.Evt.Source == event.SourceProcconn {
		// Audit's record of this exec came first and its /proc read,
		// made after the exec, is what this one would read.
		skipRead = recent && old.auditFirst
	} else {
		// The proc connector's report of this exec came first and read
		// /proc after it. (An entry read while relying on audit has no
		// executable yet.)
		skipRead = recent && old.pcRead && (ev.Proc.Exe == "" || old.Exe == "" || ev.Proc.Exe == old.Exe)
	}
	// The parent is known from the fork (or an earlier exec) of this
	// running process: see the lean read below.
	live := old != nil && old.Exited.IsZero()
	parentKnown := live && old.PPID != 0
	oldMnt := 0
	if live {
		oldMnt = old.NS.Mnt
	}
	// A read at an exec of this process found it gone a moment ago (the
	// other report of this exec, usually: a /bin/true has exited before
	// the first of its two reports is observed): it still is, so no read,
	// no mount namespace and no cgroup either; the entry is completed as
	// for a failed read. (Within twinWait: a pid is not reused that soon,
	// and a reused one brings its fork first, which starts a new entry.)
	knownGone := old != nil && old.readGone && now.Sub(old.execAt) < twinWait
	t.mu.RUnlock()
	if skipRead {
		// Only take what this report knows better: audit's argv, ids and
		// cwd at exec time; the proc connector's comm and the container
		// id read as it was received.
		t.mu.Lock()
		if p := t.procs[pid]; p != nil {
			t.overlay(p, ev)
			p.twinDue, p.pcRead, p.auditFirst = false, false, false
			stampStdio(ev, p)
		}
		t.mu.Unlock()
		return
	}
	if ev.Evt.Source == event.SourceAudit && ev.NS.Mnt == 0 && t.hostMountRule.Load() &&
		(oldMnt == 0 || oldMnt == t.initMnt) && !knownGone {
		// Audit's record came first: the same rule as the proc
		// connector's exec thread, the mount namespace before the cgroup.
		// Not for a process whose fork copy is in another mount
		// namespace (a container's): its cgroup is read anyway, and the
		// readlink would only delay the read of its descriptors.
		ev.NS.Mnt = int(t.reader.MountNS(pid))
	}
	// The process is in the host's mount namespace, read by the proc
	// connector's exec thread (which then read no cgroup,
	// procconn.Config.HostMountNS) or just above: no cgroup read here
	// either; its id comes from its kin.
	hostMount := (ev.Evt.Source == event.SourceProcconn || ev.Evt.Source == event.SourceAudit) &&
		ev.Container.ID == "" && t.initMnt != 0 && ev.NS.Mnt == t.initMnt
	kin := ""
	if hostMount {
		t.mu.RLock()
		kin = container.Decide(t.kinClues(old, ev.Proc.PPID))
		t.mu.RUnlock()
	}
	want := procfs.AllFields &^ carried(ev) &^ t.unread()
	if hasAtExec {
		want &^= procfs.FieldStdio
	}
	lean := ev.Evt.Source == event.SourceProcconn && t.auditBrings(now)
	if lean {
		want &^= fromAudit
		if parentKnown {
			// No stat either (its read is the dearest of a lean read):
			// the parent is the fork's, the session comes from
			// getsid(2), and the terminal is the fork copy's until
			// audit's record says (its tty field is the controlling
			// terminal, as stat's tty_nr). The name comes with the
			// event, else from comm.
			want &^= procfs.FieldStat
			if ev.Proc.Name == "" {
				want |= procfs.FieldComm
			}
		}
	}
	// The proc connector's receive thread read stat at the exec (its
	// name, session and terminal came with the event): the parent being
	// the fork's, no stat read here.
	statAtExec := ev.Evt.Source == event.SourceProcconn && ev.Proc.Name != "" && ev.Proc.SID != 0
	if statAtExec && parentKnown {
		want &^= procfs.FieldStat
	}
	// Audit's record came first: it names the parent, the name and the
	// terminal (overlay takes them); the session comes from getsid(2) and
	// the start time is the running entry's (its fork's, or an earlier
	// exec's).
	if ev.Evt.Source == event.SourceAudit && ev.Proc.Name != "" && ev.Proc.PPID != 0 && live {
		want &^= procfs.FieldStat
	}
	cid, resolved := "", false
	g := t.guided()
	var clue Clue
	// guided parts to decide after the read, from its comm or the cgroup
	// read after it
	var late procfs.Fields
	nameLate := false
	if g != nil && want&guidedParts != 0 {
		// The container id is a clue (an exec the proc connector reports
		// carries it).
		clue = Clue{Name: ev.Proc.Name, Exe: ev.Proc.Exe, ContainerID: ev.Container.ID}
		if hostMount {
			clue.ContainerID = kin
		}
		nameLate = clue.Name == "" && want&(procfs.FieldStat|procfs.FieldComm) != 0
		if nameLate || clue.ContainerID == "" {
			// A proc connector exec relying on audit has no comm yet:
			// the read brings it. A cgroup to read is read after the
			// read, whose first system call (getsid, or stat's open)
			// says whether the process still exists: under an exec
			// storm about half are gone by the time of the table's
			// read, and their cgroup read failed too. Then the guided
			// parts are read.
			late = want & guidedParts
			want &^= guidedParts
		} else {
			want &^= guidedParts &^ g(clue)
		}
	}
	var p *Process
	ok, gone := false, knownGone
	if !knownGone {
		var err error
		p, err = t.readErr(pid, ev, want)
		ok, gone = err == nil, errGone(err)
	}
	if ok && late != 0 {
		if nameLate {
			clue.Name = p.Name
			if clue.Exe == "" {
				clue.Exe = p.Exe
			}
		}
		if clue.ContainerID == "" {
			cid, resolved = t.resolveContainer(pid), true
			clue.ContainerID = cid
		}
		t.readParts(p, late&g(clue))
	}
	if ok && hasAtExec {
		for i, s := range atExec {
			p.Stdio[i] = s
			if s.Type == event.StdioSocket || s.Type == event.StdioPipe {
				p.StdioInodes[i] = procfs.NSInode(s.Name)
			}
		}
		t.resolveStdio(pid, [3]*event.Stdio{&p.Stdio[0], &p.Stdio[1], &p.Stdio[2]}, p.StdioInodes)
	}
	if ok && ev.Container.ID == "" && !resolved && !hostMount {
		// An exec the proc connector reports carries the container id
		// read as it was received (overlay takes it): no second read of
		// the same cgroup file.
		cid = t.resolveContainer(pid)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old = t.procs[pid]
	if !ok {
		// Gone before /proc could be read (a very short process): keep
		// what survives exec, forget the old image's name and args.
		if old == nil {
			p = &Process{PID: pid, PPID: ev.Proc.PPID, Partial: true}
		} else {
			c := *old
			p = &c
			if !(old.auditFirst && now.Sub(old.execAt) < time.Second) {
				// (When audit's record of this exec came first, they
				// are this exec's.)
				p.Name, p.Exe, p.Args, p.Cmdline = "", "", nil, ""
			}
			p.twinDue, p.pcRead, p.auditFirst = false, false, false
			p.Partial = true
			if p.PPID == 0 {
				// Its proc connector exec (no ppid) came before its
				// fork: audit's names the parent to inherit from.
				p.PPID = ev.Proc.PPID
			}
		}
		if pp := t.procs[p.PPID]; pp != nil {
			inherit(p, pp)
		}
		if ev.NS.Mnt != 0 && ev.Evt.Source != event.SourceReplay {
			p.NS.Mnt = ev.NS.Mnt // read at the exec
		}
	} else if old != nil && p.PPID == 0 {
		p.PPID = old.PPID
	}
	// Gone before /proc could be read, or its cgroup unreadable (an
	// exited process not yet reaped still has a stat): what it had, or
	// its parent's, as Decide weighs them.
	clues := container.Clues{Exec: ev.Container.ID, Now: cid}
	if hostMount {
		clues = t.kinClues(old, p.PPID)
	} else {
		if old != nil {
			clues.Before = old.ContainerID
		}
		if pp := t.procs[p.PPID]; pp != nil {
			clues.Parent, clues.ParentRuntime = pp.ContainerID, runtimeChildID(pp)
		}
	}
	p.ContainerID = container.Decide(clues)
	p.mntHost = hostMount
	if ok {
		if lean {
			// Until audit's record: the ids it had before the exec (its
			// fork copy of the parent's), else its parent's.
			from := old
			if from == nil {
				from = t.procs[p.PPID]
			}
			p.User = ""
			if from != nil {
				p.UID, p.GID, p.EUID, p.AUID, p.User = from.UID, from.GID, from.EUID, from.AUID, from.User
			}
			if want&procfs.FieldStat == 0 && old != nil && !statAtExec {
				// Exec keeps the start time; a fork copy has none.
				p.TTY, p.StartTime = old.TTY, old.StartTime
			}
			if old != nil && old.auditFirst && now.Sub(old.execAt) < time.Second {
				// Audit's record of this exec came first (its own read
				// failed): keep what it said. (Not the record of an
				// earlier exec of this process, which its report
				// already answered: busybox nc -e execs nc, then the
				// shell, in one process.)
				p.Exe, p.Args, p.Cmdline, p.Cwd = old.Exe, old.Args, old.Cmdline, old.Cwd
			} else {
				p.twinDue = true
			}
		}
		if want&procfs.FieldStat == 0 && !lean && old != nil {
			// Exec keeps the start time; a fork copy has none.
			p.StartTime = old.StartTime
		}
		if statAtExec && want&procfs.FieldStat == 0 {
			p.TTY = ev.Proc.TTY
		}
		adoptResolved(p, old, t.procs[p.PPID])
		if old != nil && old.Exited.IsZero() && !old.Started.IsZero() {
			// Exec does not start a process: its fork did.
			p.Started = old.Started
		}
	}
	p.execAt = now
	p.readGone = gone // not another error: the other report reads again
	t.overlay(p, ev)
	if ev.Evt.Source == event.SourceProcconn {
		p.pcRead = ok && (old == nil || !old.auditFirst || now.Sub(old.execAt) >= time.Second)
	} else {
		// Audit's record before the proc connector's report: the report,
		// when it comes, finds this entry's fields and read to keep.
		p.auditFirst = ev.Evt.Source == event.SourceAudit && (old == nil || !old.pcRead)
	}
	stampStdio(ev, p)
	if old != nil && !old.Exited.IsZero() {
		// Its exit arrived before its exec: keep it exited.
		p.Exited = old.Exited
		t.procs[pid] = p
		return
	}
	t.put(p)
}

// kinClues are the clues of a process whose exec found it in the host's
// mount namespace (no cgroup read): the id of its running entry (its fork
// copy, or its previous image: not an exited one whose pid it reuses) and
// its parent's. t.mu held.
func (t *Table) kinClues(old *Process, ppid int) container.Clues {
	c := container.Clues{HostMount: true}
	if old != nil && old.Exited.IsZero() {
		c.Before = old.ContainerID
		if ppid == 0 {
			ppid = old.PPID
		}
	}
	if pp := t.procs[ppid]; pp != nil && ppid != 0 {
		c.Parent = pp.ContainerID
	}
	return c
}

// stampStdio gives an exec event the standard descriptors the table has
// for its process now, at the exec, where the event has none: the exec
// merge releases an exec only when its twin comes, and by then a dup2 the
// new program made (busybox nc -e moves its socket onto 0 and 1 before it
// execs the shell) may have been observed and would show in the exec of nc
// itself. t.mu held.
func stampStdio(ev *event.Event, p *Process) {
	for i, s := range [3]*event.Stdio{&ev.Proc.Stdin, &ev.Proc.Stdout, &ev.Proc.Stderr} {
		if s.Type == "" {
			*s = p.Stdio[i]
		}
	}
}

// carried reports the parts of a /proc read that an exec event makes
// needless because overlay copies the event's own values over them: the
// executable, argv and cwd when the event has them (audit's exec records
// do), and the ids and login uid of an audit or replayed event.
func carried(ev *event.Event) procfs.Fields {
	var f procfs.Fields
	e := &ev.Proc
	if e.Exe != "" {
		f |= procfs.FieldExe
	}
	if len(e.Args) > 0 {
		f |= procfs.FieldCmdline
	}
	if e.Cwd != "" {
		f |= procfs.FieldCwd
	}
	if ev.Evt.Source == event.SourceAudit || ev.Evt.Source == event.SourceReplay {
		f |= procfs.FieldStatus | procfs.FieldLoginUID
	}
	if (ev.Evt.Source == event.SourceProcconn || ev.Evt.Source == event.SourceAudit) && ev.NS.Mnt != 0 {
		f |= procfs.FieldNSMnt // read at the exec (see observeExec)
	}
	return f
}

// overlay copies what the event itself says about the process. Audit's
// argv, ids and cwd are the truth at exec time; the proc connector's
// events carry only pids. t.mu held (or p not shared yet).
func (t *Table) overlay(p *Process, ev *event.Event) {
	e := &ev.Proc
	if e.PPID != 0 {
		p.PPID = e.PPID
	}
	if e.Name != "" {
		p.Name = e.Name
	}
	if e.Exe != "" {
		p.Exe = e.Exe
	}
	if len(e.Args) > 0 {
		p.Args = e.Args
		p.Cmdline = strings.Join(e.Args, " ")
	} else if e.Cmdline != "" {
		p.Cmdline = e.Cmdline
	}
	if e.Cwd != "" {
		p.Cwd = e.Cwd
	}
	if ev.Evt.Source == event.SourceAudit || ev.Evt.Source == event.SourceReplay {
		if e.UID != p.UID {
			// The name was another uid's: the parent's that a fork
			// copied, when runc init's exec was taken in before any
			// report of its setuid. Enrich names the new uid.
			p.User = ""
		}
		p.UID, p.GID, p.EUID, p.AUID = e.UID, e.GID, e.EUID, e.AUID
		// Audit's tty field is the controlling terminal, as stat's.
		p.TTY = e.TTY
		if e.User != "" {
			p.User = e.User
		}
	}
	if e.SID != 0 {
		p.SID = e.SID
	}
	if e.VPID != 0 {
		p.VPID = e.VPID
	}
	if ev.Container.ID != "" {
		// An exec's container id was read at the exec (the proc connector
		// source asks the resolver as it receives it): it beats what the
		// process inherited from its parent (runc, on the host, for a
		// docker exec). Any other event's is a recording's.
		c := container.Clues{Before: p.ContainerID, Recorded: ev.Container.ID}
		if ev.Evt.Type == event.TypeExecve {
			c.Exec = ev.Container.ID
		}
		p.ContainerID = container.Decide(c)
	}
}

func (t *Table) observeExit(ev *event.Event, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.procs[ev.Proc.PID]
	if p == nil {
		// Never seen (lost events, or exited before anything else was
		// read): keep the parent link so the exit event has ancestry.
		p = &Process{PID: ev.Proc.PID, PPID: ev.Proc.PPID, Partial: true}
		if pp := t.procs[p.PPID]; pp != nil {
			inherit(p, pp)
			p.ContainerID = container.Decide(container.Clues{Parent: pp.ContainerID})
		}
		if !t.put(p) {
			return
		}
	}
	if ev.Proc.PPID != 0 && ev.Proc.PPID != p.PPID {
		p.PPID = ev.Proc.PPID
		t.stats.Reparents++
	}
	t.markExited(p, now)
}

func (t *Table) maybeSweep(now time.Time) {
	t.mu.Lock()
	if now.Sub(t.lastSweep) < sweepEvery {
		t.mu.Unlock()
		return
	}
	t.lastSweep = now
	t.evict(now, false)
	// Orphans: a live process whose parent exited was reparented by the
	// kernel (to init or a subreaper); read its new parent.
	var orphans []int
	for pid, p := range t.procs {
		if !p.Exited.IsZero() || p.PPID == 0 {
			continue
		}
		if pp, ok := t.procs[p.PPID]; !ok || !pp.Exited.IsZero() {
			orphans = append(orphans, pid)
		}
	}
	t.mu.Unlock()
	for _, pid := range orphans {
		st, err := t.reader.Stat(pid)
		t.mu.Lock()
		if p := t.procs[pid]; p != nil && p.Exited.IsZero() {
			switch {
			case err == nil && st.PPID != p.PPID:
				p.PPID = st.PPID
				t.stats.Reparents++
			case err != nil && errGone(err):
				// Its exit was lost: stop showing it as running.
				t.markExited(p, now)
			}
		}
		t.mu.Unlock()
	}
}

// staleTitle says the event's argv came from audit's PROCTITLE record, which
// the kernel caches per task at its first audited syscall and never
// refreshes: after an exec (runc init joining a container with setns, then
// exec'ing the user's program) it still shows the old image. Only execve
// events carry their own argv (EXECVE records); for the rest the table's
// argv, taken at the last exec, is the truth.
func staleTitle(ev *event.Event) bool {
	return ev.Evt.Source == event.SourceAudit && ev.Evt.Type != event.TypeExecve
}

// Enrich fills the event's empty process fields from the table: parent,
// ancestry, executable, arguments, ids, user, namespaces, standard
// descriptors and container id. Values the source set are kept.
func (t *Table) Enrich(ev *event.Event) {
	e := &ev.Proc
	t.mu.RLock()
	p, ok := t.procs[e.PID]
	if !ok {
		t.mu.RUnlock()
		t.misses.Add(1)
		return
	}
	if e.PPID == 0 {
		e.PPID = p.PPID
	}
	if e.Name == "" {
		e.Name = p.Name
	}
	if e.Exe == "" {
		e.Exe = p.Exe
	}
	if len(e.Args) == 0 || (staleTitle(ev) && len(p.Args) > 0) {
		e.Args = p.Args
	}
	if e.Cmdline == "" || (staleTitle(ev) && p.Cmdline != "") {
		e.Cmdline = p.Cmdline
	}
	if e.Cwd == "" {
		e.Cwd = p.Cwd
	}
	if e.SID == 0 {
		e.SID = p.SID
	}
	if e.VPID == 0 {
		e.VPID = p.VPID
	}
	if !e.TTY {
		e.TTY = p.TTY
	}
	if e.Env == nil {
		e.Env = p.Env
	}
	if e.CapEffective == nil && e.CapPermitted == nil && e.CapInheritable == nil {
		e.CapEffective, e.CapPermitted, e.CapInheritable = p.CapEff, p.CapPrm, p.CapInh
	}
	user := ""
	if ev.Evt.Source != event.SourceAudit && ev.Evt.Source != event.SourceReplay {
		e.UID, e.GID, e.EUID, e.AUID = p.UID, p.GID, p.EUID, p.AUID
	}
	if e.User == "" && e.UID == p.UID && p.User != "" {
		e.User = p.User
	} else if e.User == "" {
		user = "?" // resolve outside the lock
	}
	// Each namespace apart: a proc connector exec carries the mount
	// namespace its exec thread read.
	if ev.NS.PID == 0 {
		ev.NS.PID = p.NS.PID
	}
	if ev.NS.Net == 0 {
		ev.NS.Net = p.NS.Net
	}
	if ev.NS.Mnt == 0 {
		ev.NS.Mnt = p.NS.Mnt
	}
	if ev.Container.ID == "" {
		ev.Container.ID = p.ContainerID
	}
	var inodes [3]uint64
	stdio := [3]*event.Stdio{&e.Stdin, &e.Stdout, &e.Stderr}
	for i, s := range stdio {
		if s.Type == "" {
			*s = p.Stdio[i]
			inodes[i] = p.StdioInodes[i]
		}
	}
	if pp, ok := t.procs[e.PPID]; ok {
		if e.PName == "" {
			e.PName = pp.Name
		}
		if e.PExe == "" {
			e.PExe = pp.Exe
		}
		if e.PCmdline == "" {
			e.PCmdline = pp.Cmdline
		}
	}
	if e.ANames == nil {
		e.ANames = t.anames(e.PPID)
	}
	if e.SName == "" {
		e.SName = t.sessionName(p, e.SID)
	}
	if e.ExeIno == 0 && p.ExeFile.Ino != 0 {
		x := &p.ExeFile
		e.ExeIno, e.ExeInoCtime, e.ExeInoMtime = int(x.Ino), x.Ctime, x.Mtime
		e.ExeWritable = exeWritable(x, e.EUID, e.GID)
	}
	if e.PGID == 0 {
		e.PGID = p.PGID
		e.VPGID = t.vpgid(p)
	}
	if e.LoginShellID == 0 {
		e.LoginShellID = t.loginShell(p, e.Name)
	}
	if e.Duration == 0 && !p.Started.IsZero() && !ev.Evt.Time.IsZero() {
		if d := ev.Evt.Time.Sub(p.Started); d > 0 {
			e.Duration = int(d)
		}
	}
	mnt := p.NS.Mnt
	t.mu.RUnlock()

	if user != "" {
		e.User = t.userOf(e.UID, mnt)
	}
	if e.HomeDir == "" && e.Shell == "" && e.LoginName == "" && e.Group == "" {
		t.names(e, mnt)
	}
	t.resolveStdio(e.PID, stdio, inodes)
}

// unsetAUID is the loginuid of a process no login set it for.
const unsetAUID = 4294967295

// sessionName is the name of p's session leader: the process whose pid is
// sid, else (it exited) the eldest ancestor of p in the same session. t.mu
// held (read).
func (t *Table) sessionName(p *Process, sid int) string {
	if sid <= 0 {
		return ""
	}
	if l, ok := t.procs[sid]; ok {
		return l.Name
	}
	leader := p
	pid := p.PPID
	for depth := 0; pid > 0 && depth < t.cfg.MaxDepth; depth++ {
		a, ok := t.procs[pid]
		if !ok || a.SID != sid {
			break
		}
		leader = a
		if a.PPID == pid {
			break
		}
		pid = a.PPID
	}
	return leader.Name
}

// loginShell is the pid of the eldest of p (named name) and its ancestors
// whose name ends in "sh" (Falco's test for a shell), or 0. t.mu held
// (read).
func (t *Table) loginShell(p *Process, name string) int {
	shell := 0
	if strings.HasSuffix(name, "sh") {
		shell = p.PID
	}
	pid := p.PPID
	for depth := 0; pid > 0 && depth < t.cfg.MaxDepth; depth++ {
		a, ok := t.procs[pid]
		if !ok {
			break
		}
		if strings.HasSuffix(a.Name, "sh") {
			shell = a.PID
		}
		if a.PPID == pid {
			break
		}
		pid = a.PPID
	}
	return shell
}

// vpgid is p's process group id in p's pid namespace: the group leader's
// vpid when the table has it in that namespace, or 0. t.mu held (read).
func (t *Table) vpgid(p *Process) int {
	switch {
	case p.PGID == 0:
		return 0
	case p.NS.PID != 0 && p.NS.PID == t.hostPidNS:
		return p.PGID
	case p.PGID == p.PID:
		return p.VPID
	}
	if l, ok := t.procs[p.PGID]; ok && l.NS.PID == p.NS.PID && l.Exited.IsZero() {
		return l.VPID
	}
	return 0
}

// exeWritable approximates Falco's proc.is_exe_writable (the kernel's
// write permission check of the executable for the process's credentials)
// from the file's mode and owner: root may write any file (CAP_DAC_OVERRIDE);
// others by the owner, group or other write bit that applies to them.
// Supplementary groups, capabilities other than root's and read-only mounts
// are not seen.
func exeWritable(x *procfs.ExeFile, euid, gid int) bool {
	switch {
	case euid == 0:
		return true
	case euid == x.UID:
		return x.Mode&0o200 != 0
	case gid == x.GID:
		return x.Mode&0o020 != 0
	}
	return x.Mode&0o002 != 0
}
