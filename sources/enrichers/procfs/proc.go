package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// ErrGone reports a process that no longer exists (or never did). It
// matches fs.ErrNotExist.
var ErrGone = fmt.Errorf("process gone: %w", fs.ErrNotExist)

// goneError is ErrGone for one read of one process, formatted only when
// printed: under an exec storm about half the table's reads find their
// process gone, and the caller drops the error unread (fmt.Errorf cost
// ~1.5% of the agent's CPU there).
type goneError struct {
	op   string // "getsid", "pidfd", "read"
	pid  int
	file string // the file read, for "read"
}

func (e *goneError) Error() string {
	if e.file != "" {
		return e.op + " " + strconv.Itoa(e.pid) + "/" + e.file + ": " + ErrGone.Error()
	}
	return e.op + " " + strconv.Itoa(e.pid) + ": " + ErrGone.Error()
}

func (e *goneError) Unwrap() error { return ErrGone }

// Stdio is one classified standard descriptor. Type and Name are the
// event.Stdio fields; Inode is the socket or pipe inode, kept so that the
// network namespace code can resolve a socket's two ends.
//
// /dev/null is reported as type "none" with name "/dev/null": reading or
// writing it goes nowhere, which is what rules about stdio care about. A
// closed descriptor is type "none" with no name.
type Stdio struct {
	Type  string
	Name  string
	Inode uint64
}

// ClassifyFD classifies the target of a /proc/PID/fd/N link.
func ClassifyFD(target string) Stdio {
	switch {
	case strings.HasPrefix(target, "socket:["):
		return Stdio{Type: event.StdioSocket, Name: target, Inode: NSInode(target)}
	case strings.HasPrefix(target, "pipe:["):
		return Stdio{Type: event.StdioPipe, Name: target, Inode: NSInode(target)}
	case target == "/dev/null":
		return Stdio{Type: event.StdioNone, Name: target}
	case strings.HasPrefix(target, "/dev/pts/"), strings.HasPrefix(target, "/dev/tty"),
		target == "/dev/console", target == "/dev/ptmx":
		return Stdio{Type: event.StdioTTY, Name: target}
	default:
		// Regular files, anon_inode:[eventfd], memfd:... all are "file".
		return Stdio{Type: event.StdioFile, Name: target}
	}
}

// NSInode parses a namespace link's target ("mnt:[4026531841]"); 0 when it
// is not one.
func NSInode(s string) uint64 {
	i := strings.IndexByte(s, '[')
	j := strings.LastIndexByte(s, ']')
	if i < 0 || j <= i {
		return 0
	}
	n, err := strconv.ParseUint(s[i+1:j], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// NS holds namespace inode numbers from /proc/PID/ns/*.
type NS struct {
	PID, Net, Mnt uint64
}

// Process is one process as /proc shows it. Fields the reader could not get
// (permission, kernel thread without exe, process gone half-way) stay zero.
type Process struct {
	PID       int
	PPID      int
	TGID      int
	SID       int
	PGID      int // process group (host pid namespace)
	VPID      int
	Comm      string
	TTY       bool
	StartTime uint64
	UID, EUID int
	GID, EGID int
	// AUID is /proc/PID/loginuid: 4294967295 when no login set it, -1
	// when it could not be read.
	AUID  int
	Exe   string
	Cwd   string
	Args  []string
	Stdio [3]Stdio
	NS    NS
	// Capability masks from status (CapEff, CapPrm, CapInh).
	CapEff, CapPrm, CapInh uint64
	// Env is the start of /proc/PID/environ (see Reader.EnvMax).
	Env []string
	// ExeFile is the executable's inode (zero when not read).
	ExeFile ExeFile
}

// ExeFile is what a stat of /proc/PID/exe says of the executable file.
type ExeFile struct {
	Ino          uint64
	Ctime, Mtime time.Time
	Mode         uint32 // permission bits
	UID, GID     int
}

// Reader reads processes from an fs.FS rooted at /proc.
type Reader struct {
	fsys fs.FS
	// capget reads a process's capability sets with one system call, on
	// the live /proc of our pid namespace only (see liveCapget); nil
	// elsewhere, where they come from status.
	capget func(pid int) (eff, prm, inh uint64, err error)
	// getsid is getsid(2), on the live /proc only, as capget.
	getsid func(pid int) (int, error)
	// getpgid is getpgid(2), beside getsid.
	getpgid func(pid int) (int, error)
	// pidIDs reads a process's real and effective ids through a pidfd
	// (PIDFD_GET_INFO), on the live /proc only, as capget; ownPidNS is
	// the inode of our pid namespace, where a process's vpid is its pid.
	pidIDs   func(pid int) (uid, euid, gid, egid int, err error)
	ownPidNS uint64
	// statExe: a stat of exe reaches the process's executable: on the
	// live /proc only, as capget; a recorded tree's exe links name paths
	// of another host.
	statExe bool
	// EnvMax is how many bytes of /proc/PID/environ a FieldEnv read takes;
	// 0 reads none. A variable cut by the bound is dropped, never kept half.
	EnvMax int

	// envs interns environments by content (see internEnv).
	envMu sync.Mutex
	envs  map[string][]string
}

// envCacheMax bounds the interned environments: up to EnvMax bytes each
// (4 KiB by default), so at most 4 MiB; past it the cache starts over.
const envCacheMax = 1024

// New returns a reader over fsys: Dir("/proc") on a live host.
// Links are read with fs.ReadLink, so fsys should implement fs.ReadLinkFS
// (os.DirFS and testing/fstest.MapFS do); without it exe, cwd, fds and
// namespaces stay empty.
func New(fsys fs.FS) *Reader {
	r := &Reader{fsys: fsys}
	if d, ok := fsys.(Dir); ok {
		r.capget, r.getsid, r.getpgid = liveSyscalls(d)
		r.statExe = r.live()
		if r.live() {
			if ns := NSInode(r.link("self/ns/pid")); ns != 0 {
				r.pidIDs, r.ownPidNS = pidIDs, ns
			}
		}
	}
	return r
}

// PIDs lists the numeric entries of the root: every process (not thread).
func (r *Reader) PIDs() ([]int, error) {
	ents, err := fs.ReadDir(r.fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read proc dir: %w", err)
	}
	pids := make([]int, 0, len(ents))
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Fields selects the parts of a process Reader.ProcessFields reads.
type Fields uint

// The parts of a process read.
const (
	// FieldStat is stat: parent, session, comm, start time, terminal.
	// Without it (a caller that knows the rest) the session comes from
	// getsid(2), which also says whether the process still exists; on a
	// /proc other than the live one of our pid namespace stat is read
	// anyway.
	FieldStat     Fields = 1 << iota
	FieldStatus          // status: TGID, VPID, uids and gids
	FieldLoginUID        // loginuid: AUID
	FieldCmdline         // cmdline: Args
	FieldExe             // exe link
	FieldCwd             // cwd link
	FieldStdio           // fd/0-2 links
	FieldNSPid           // ns/pid link
	FieldCaps            // status: capability sets
	FieldEnv             // environ, up to Reader.EnvMax bytes
	FieldNSNet           // ns/net link
	FieldNSMnt           // ns/mnt link
	FieldExeStat         // stat of the exe link's target: ExeFile
	// FieldComm is comm alone, for a read without FieldStat that needs
	// the name (stat brings it otherwise): ~2-3 µs less than stat, whose
	// kernel side also sums the times of every thread. Not in AllFields.
	FieldComm
	FieldNS   = FieldNSPid | FieldNSNet | FieldNSMnt
	AllFields = FieldStat | FieldStatus | FieldLoginUID | FieldCmdline | FieldExe | FieldCwd | FieldStdio | FieldNS | FieldCaps | FieldEnv | FieldExeStat
)

// Process reads everything ruled uses about pid. stat and status are
// required: without them the error matches fs.ErrNotExist when the process
// is gone. The links are best effort.
func (r *Reader) Process(pid int) (Process, error) {
	return r.ProcessFields(pid, AllFields)
}

// ProcessFields reads the parts of pid in want, for a caller that already
// knows the rest (an audit exec record carries the executable, argv, cwd
// and ids; the table's copy of a forked process its parent). Parts not read
// stay zero; AUID is -1 when loginuid was not read or could not be. The
// error matches fs.ErrNotExist when the process is gone.
func (r *Reader) ProcessFields(pid int, want Fields) (Process, error) {
	p := Process{PID: pid, AUID: -1}
	dir := strconv.Itoa(pid)
	if want&FieldStat == 0 && r.getsid != nil {
		sid, err := r.getsid(pid)
		if err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return p, &goneError{op: "getsid", pid: pid}
			}
			return p, fmt.Errorf("getsid %d: %w", pid, err)
		}
		p.SID = sid
		// Best effort, as the links: the process existed a moment ago.
		if pgid, err := r.getpgid(pid); err == nil {
			p.PGID = pgid
		}
	} else {
		st, err := r.Stat(pid)
		if err != nil {
			return p, err
		}
		p.PPID, p.SID, p.PGID, p.Comm, p.StartTime, p.TTY = st.PPID, st.SID, st.PGRP, st.Comm, st.StartTime, st.TTYNr != 0
	}
	status := want&FieldStatus != 0
	var nsRead Fields // namespaces read already
	if status && r.pidIDs != nil {
		// The ids through a pidfd, and status only for the pid inside
		// another pid namespace than ours (its NSpid line).
		uid, euid, gid, egid, err := r.pidIDs(pid)
		switch {
		case err == nil:
			p.TGID, p.UID, p.EUID, p.GID, p.EGID = pid, uid, euid, gid, egid
			p.NS.PID, nsRead = NSInode(r.link(dir+"/ns/pid")), FieldNSPid
			if p.NS.PID != 0 && p.NS.PID == r.ownPidNS {
				p.VPID, status = pid, false
			}
		case errors.Is(err, syscall.ESRCH):
			return p, &goneError{op: "pidfd", pid: pid}
		}
	}
	caps := want&FieldCaps != 0
	if caps && !status && r.capget != nil {
		// Capabilities alone are best effort, as the links are: a failed
		// capget (the process is gone) leaves them empty.
		if eff, prm, inh, err := r.capget(pid); err == nil {
			p.CapEff, p.CapPrm, p.CapInh = eff, prm, inh
		}
		caps = false
	}
	if status || caps {
		ss, err := r.Status(pid)
		if err != nil && status {
			return p, err
		}
		if err == nil {
			// Read anyway: the pids cost nothing more.
			p.TGID, p.VPID = ss.TGID, ss.VPID()
			if want&FieldStatus != 0 {
				p.UID, p.EUID, p.GID, p.EGID = ss.UID, ss.EUID, ss.GID, ss.EGID
			}
			if want&FieldCaps != 0 {
				p.CapEff, p.CapPrm, p.CapInh = ss.CapEff, ss.CapPrm, ss.CapInh
			}
		}
	}
	if want&FieldComm != 0 && want&FieldStat == 0 {
		b, err := fs.ReadFile(r.fsys, dir+"/comm")
		if err == nil {
			p.Comm = string(bytes.TrimSuffix(b, []byte("\n")))
		} else if r.reaped(err) {
			// Gone since getsid: so would every part be.
			return p, &goneError{op: "read", pid: pid, file: "comm"}
		}
	}
	r.parts(&p, dir, want&^nsRead)
	return p, nil
}

// reaped reports that err, from reading a file of a process's /proc
// directory that is there as long as the process is in the kernel's
// process table, zombie or not (comm, loginuid, cmdline, environ, ns/pid),
// says that directory is gone: the process was reaped, and every further
// read of it would fail. On the live /proc only: a recorded tree may lack
// any file.
func (r *Reader) reaped(err error) bool {
	return r.live() && errors.Is(err, fs.ErrNotExist)
}

// live says whether r reads the running kernel's /proc (New over a Dir,
// with its system calls) rather than a recorded tree, where any file may
// be missing without the process being gone.
func (r *Reader) live() bool { return r.getsid != nil }

// alive reports whether pid, whose descriptor dir ("PID/fd/") just lacked
// a link, still exists (a zombie does): then the descriptor is closed.
// getsid(2) on the live /proc, a system call without a path walk; a stat
// of the directory elsewhere.
func (r *Reader) alive(pid int, dir string) bool {
	if r.getsid != nil {
		_, err := r.getsid(pid)
		return err == nil
	}
	return r.exists(dir)
}

// Parts reads the best-effort parts of pid in want (the environment, the
// capability sets, the links, loginuid, cmdline, the executable's stat) and
// not stat or status, with no check that pid still exists: for a caller that
// read the rest a moment ago and decides on these from it. A process gone
// since leaves them zero.
func (r *Reader) Parts(pid int, want Fields) Process {
	p := Process{PID: pid, AUID: -1}
	if want&FieldCaps != 0 {
		if r.capget != nil {
			if eff, prm, inh, err := r.capget(pid); err == nil {
				p.CapEff, p.CapPrm, p.CapInh = eff, prm, inh
			}
		} else if ss, err := r.Status(pid); err == nil {
			p.CapEff, p.CapPrm, p.CapInh = ss.CapEff, ss.CapPrm, ss.CapInh
		}
	}
	r.parts(&p, strconv.Itoa(pid), want)
	return p
}

// parts reads into p the best-effort parts in want below dir ("PID"); the
// namespaces want leaves out keep p's.
//
// A process can go at any point of the read (under an exec storm most of
// the table's reads are of processes a few hundred µs old that exit at
// once): on the live /proc a read that shows the process reaped ends the
// read (each further one would be a failed system call), and one that
// shows it exited (its environment, ESRCH: a zombie) skips what an exited
// process no longer has (executable, cwd, descriptors, net and mount
// namespaces) and keeps what it has (pid namespace).
func (r *Reader) parts(p *Process, dir string, want Fields) {
	pid := p.PID
	if want&FieldLoginUID != 0 {
		b, err := fs.ReadFile(r.fsys, dir+"/loginuid")
		if err == nil {
			if v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 32); err == nil {
				p.AUID = int(v)
			}
		} else if r.reaped(err) {
			return
		}
	}
	if want&FieldCmdline != 0 {
		b, err := fs.ReadFile(r.fsys, dir+"/cmdline")
		if err == nil {
			p.Args = ParseCmdline(b)
		} else if r.reaped(err) {
			return
		}
	}
	if want&FieldEnv != 0 && r.EnvMax > 0 {
		env, err := r.env(dir+"/environ", r.EnvMax)
		p.Env = env
		switch {
		case err == nil:
		case r.reaped(err):
			return
		case r.live() && errors.Is(err, syscall.ESRCH):
			// Exited (its memory is gone): a zombie until reaped.
			want &^= FieldExe | FieldCwd | FieldExeStat | FieldStdio | FieldNSNet | FieldNSMnt
		}
	}
	if want&FieldExe != 0 {
		p.Exe = r.link(dir + "/exe")
	}
	if want&FieldCwd != 0 {
		p.Cwd = r.link(dir + "/cwd")
	}
	if want&FieldExeStat != 0 && r.statExe {
		// Best effort, as the links: stat follows the magic link to the
		// file the process runs, even deleted or in another mount
		// namespace.
		if fi, err := fs.Stat(r.fsys, dir+"/exe"); err == nil {
			p.ExeFile, _ = exeFileOf(fi)
		}
	}
	if want&FieldStdio != 0 {
		var gone bool
		if p.Stdio, gone = r.stdioOf(pid); gone {
			return
		}
	}
	if want&FieldNS != 0 {
		ns := r.nsOf(pid, want)
		if want&FieldNSPid == 0 {
			ns.PID = p.NS.PID
		}
		p.NS = ns
	}
}

// Stat reads /proc/PID/stat.
func (r *Reader) Stat(pid int) (Stat, error) {
	b, err := r.read(pid, "stat")
	if err != nil {
		return Stat{}, err
	}
	s, err := parseStat(b)
	if err != nil {
		return s, fmt.Errorf("pid %d: %w", pid, err)
	}
	return s, nil
}

// Status reads /proc/PID/status.
func (r *Reader) Status(pid int) (Status, error) {
	b, err := r.read(pid, "status")
	if err != nil {
		return Status{}, err
	}
	s, err := parseStatus(b)
	if err != nil {
		return s, fmt.Errorf("pid %d: %w", pid, err)
	}
	return s, nil
}

// StdioOf classifies fds 0, 1 and 2 of pid.
func (r *Reader) StdioOf(pid int) [3]Stdio {
	out, _ := r.stdioOf(pid)
	return out
}

// stdioOf is StdioOf, and whether it found pid gone from the live /proc:
// then the descriptors after the one that showed it are not read (zero).
func (r *Reader) stdioOf(pid int) (out [3]Stdio, gone bool) {
	dir := strconv.Itoa(pid) + "/fd/"
	for i := range out {
		var ok bool
		if out[i], ok = r.fd(pid, dir, i); !ok && r.live() {
			return out, true
		}
	}
	return out, false
}

// StdioFD classifies descriptor fd of pid alone: what a dup2 onto it put
// there. Zero when pid is gone.
func (r *Reader) StdioFD(pid, fd int) Stdio {
	s, _ := r.fd(pid, strconv.Itoa(pid)+"/fd/", fd)
	return s
}

// fd classifies descriptor n of pid below dir ("PID/fd/"): type "none"
// when it is closed; zero, and false, when the process is gone.
func (r *Reader) fd(pid int, dir string, n int) (Stdio, bool) {
	target, err := fs.ReadLink(r.fsys, dir+strconv.Itoa(n))
	switch {
	case err == nil:
		return ClassifyFD(target), true
	case !errors.Is(err, fs.ErrNotExist):
		return Stdio{}, true // unreadable (permission): unknown
	case r.alive(pid, dir):
		return Stdio{Type: event.StdioNone}, true // closed descriptor
	}
	return Stdio{}, false
}

// NSOf reads the pid, net and mnt namespace inodes of pid.
func (r *Reader) NSOf(pid int) NS { return r.nsOf(pid, FieldNS) }

// HostMountNS returns the inode of the host's mount namespace: init's
// (pid 1), else, where init's links may not be read (a VM whose init
// refuses ptrace access), kthreadd's (pid 2): kernel threads stay in the
// initial mount namespace, where init starts. 0 when neither is readable.
func HostMountNS(proc fs.FS) uint64 {
	for _, name := range []string{"1/ns/mnt", "2/ns/mnt"} {
		if l, err := fs.ReadLink(proc, name); err == nil {
			if ino := NSInode(l); ino != 0 {
				return ino
			}
		}
	}
	return 0
}

// MountNS reads the mount namespace inode of pid; 0 when it is gone.
func (r *Reader) MountNS(pid int) uint64 { return r.nsOf(pid, FieldNSMnt).Mnt }

// nsOf reads the namespaces of pid that want names.
func (r *Reader) nsOf(pid int, want Fields) NS {
	dir := strconv.Itoa(pid) + "/ns/"
	var ns NS
	if want&FieldNSPid != 0 {
		ns.PID = NSInode(r.link(dir + "pid"))
	}
	if want&FieldNSNet != 0 {
		ns.Net = NSInode(r.link(dir + "net"))
	}
	if want&FieldNSMnt != 0 {
		ns.Mnt = NSInode(r.link(dir + "mnt"))
	}
	return ns
}

// Comm reads /proc/PID/comm.
func (r *Reader) Comm(pid int) (string, error) {
	b, err := r.read(pid, "comm")
	if err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b, "\n")), nil
}

func (r *Reader) exists(dir string) bool {
	_, err := fs.Stat(r.fsys, strings.TrimSuffix(dir, "/"))
	return err == nil
}

func (r *Reader) link(name string) string {
	s, err := fs.ReadLink(r.fsys, name)
	if err != nil {
		return ""
	}
	// A deleted executable shows as "/path (deleted)"; the path is what
	// rules match, so keep it and let drift rules see the binary is gone
	// elsewhere.
	return strings.TrimSuffix(s, " (deleted)")
}

// env reads up to max bytes of an environ file: NUL-separated NAME=value.
// The error is the open's or read's, for parts to tell a process gone.
func (r *Reader) env(name string, max int) ([]string, error) {
	bp := envBufs.Get().(*[]byte)
	defer envBufs.Put(bp)
	if cap(*bp) < max+1 {
		*bp = make([]byte, max+1)
	}
	buf := (*bp)[:max+1]
	var n int
	if d, ok := r.fsys.(Dir); ok {
		// Plain open, read and close, as Dir.ReadFile: the environment
		// is read at every exec.
		p, err := d.path("open", name)
		if err != nil {
			return nil, err
		}
		if n, err = ReadInto(p, buf); err != nil {
			return nil, err
		}
	} else {
		f, err := r.fsys.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		n, _ = io.ReadFull(f, buf)
	}
	return r.internEnv(buf[:n], max), nil
}

// internEnv returns the parsed environment b, shared with every process
// whose environ read the same bytes: children inherit their parent's
// environment, so a host's processes hold a handful of distinct ones, and
// the process table keeps each process's for its events (up to 4 KiB
// apiece: 40 MiB for 10,000 processes without sharing). The lists are
// shared: callers must not modify them.
func (r *Reader) internEnv(b []byte, max int) []string {
	r.envMu.Lock()
	defer r.envMu.Unlock()
	if env, ok := r.envs[string(b)]; ok {
		return env
	}
	env := ParseEnviron(b, max)
	if r.envs == nil || len(r.envs) >= envCacheMax {
		r.envs = make(map[string][]string)
	}
	r.envs[string(b)] = env
	return env
}

// envBufs are read buffers for env: ParseEnviron copies what it keeps.
var envBufs = sync.Pool{New: func() any { b := make([]byte, 0); return &b }}

// ParseEnviron splits an environ buffer (NUL-separated) read with a bound
// of max bytes: when the buffer is longer than max, the variable the bound
// cut is dropped.
func ParseEnviron(b []byte, max int) []string {
	cut := len(b) > max
	if cut {
		b = b[:max]
		if i := bytes.LastIndexByte(b, 0); i >= 0 {
			b = b[:i]
		} else {
			b = nil
		}
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	// One string for the whole environment and substrings of it: two
	// allocations per exec instead of one per variable.
	all := string(b)
	out := make([]string, 0, bytes.Count(b, []byte{0})+1)
	for v := range strings.SplitSeq(all, "\x00") {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (r *Reader) read(pid int, file string) ([]byte, error) {
	name := strconv.Itoa(pid) + "/" + file
	b, err := fs.ReadFile(r.fsys, name)
	if err != nil {
		if gone(err) {
			return nil, &goneError{op: "read", pid: pid, file: file}
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// gone reports errors that mean the process exited: ENOENT, and ESRCH from
// reading a file of a process that died after open.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}
