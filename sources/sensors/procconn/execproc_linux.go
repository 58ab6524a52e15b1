package procconn

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Exec readers in processes of their own (Config.ExecReader).
//
// An exec's /proc entry must be read within the few hundred µs a quick
// process lives. A reader thread in the agent's process is a goroutine of
// the agent's Go runtime: every GC stops it with the rest of the world,
// and the runtime's monitor preempts it every 10 ms, after which it waits
// for an ordinary thread to hand it a P again. Each costs execs (~0.5% of
// a storm), and when a virtual CPU stalls (the hypervisor runs another
// guest) a GC begun meanwhile stops every thread until that CPU runs
// again: 100-700 ms of execs read too late, one storm in ~15-30 on this
// machine (BENCHMARKS.md, issue 15, fifth pass). An exec reader process
// has one goroutine and allocates nothing, so its runtime never stops it;
// every thread of it runs at real-time priority on one CPU, so the
// monitor's preemption resumes at once; two of them on two CPUs wait in
// the same socket, and the kernel wakes one per message (a datagram
// receive waits exclusively), so one stalled CPU leaves the other to read.
// They write each exec's bytes to a pipe the main reader drains.

// execReaderEnv names the environment variable that makes a process an
// exec reader (ServeExecReader); its value is a readerSpec.
const execReaderEnv = "RULED_PROCCONN_EXEC_READER"

// An exec reader's descriptors (exec.Cmd.ExtraFiles start at 3).
const (
	readerSockFD = 3 // the exec-only proc connector socket, shared by all
	readerPipeFD = 4 // the write end of its pipe to the main reader
	readerFlagFD = 5 // a shared page: its first word is 1 to read exe, stat and argv
)

const flagPage = 4096

// ServeExecReader runs this process as an exec reader and exits, when it
// was started as one (Config.ExecReader); otherwise it returns at once. A
// program that names itself in Config.ExecReader calls it first thing in
// main (and a test binary in TestMain).
func ServeExecReader() {
	spec, ok := os.LookupEnv(execReaderEnv)
	if !ok {
		return
	}
	os.Exit(serveExecReader(spec))
}

// readerSpec is an exec reader's configuration, passed in its
// environment as "cpu=N,mnt=N,cgroup=0|1".
type readerSpec struct {
	cpu     int    // the CPU its threads are bound to; -1: none
	hostMnt uint64 // Config.HostMountNS
	cgroup  bool   // Config.ContainerOf is set: read the cgroup
}

func (r readerSpec) String() string {
	cg := 0
	if r.cgroup {
		cg = 1
	}
	return fmt.Sprintf("cpu=%d,mnt=%d,cgroup=%d", r.cpu, r.hostMnt, cg)
}

func parseReaderSpec(s string) (readerSpec, error) {
	r := readerSpec{cpu: -1}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return r, fmt.Errorf("exec reader spec %q: %q is not key=value", s, kv)
		}
		var err error
		switch k {
		case "cpu":
			r.cpu, err = strconv.Atoi(v)
		case "mnt":
			r.hostMnt, err = strconv.ParseUint(v, 10, 64)
		case "cgroup":
			r.cgroup = v == "1"
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return r, fmt.Errorf("exec reader spec %q: %s: %w", s, k, err)
		}
	}
	return r, nil
}

// serveExecReader is an exec reader's main; it returns the exit code.
func serveExecReader(specText string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("source", "procconn exec reader", "pid", os.Getpid())
	spec, err := parseReaderSpec(specText)
	if err != nil {
		log.Error("bad configuration", "error", err)
		return 2
	}
	// Named in ps and top as what it is, not as the /proc/self/exe it
	// was started through ("exe").
	name := []byte("ruled-reader\x00")
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0)
	// One P, no collector: the loop below allocates nothing once its
	// buffers have grown, and nothing else runs here.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(-1)
	// A reload signal sent to the agent's process group is not for us;
	// the end of the agent is (its pipe closes, and PR_SET_PDEATHSIG).
	signal.Ignore(syscall.SIGHUP)
	page, err := unix.Mmap(readerFlagFD, 0, flagPage, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		log.Error("map the shared page", "error", err)
		return 2
	}
	if err := realtimeThreads(spec.cpu); err != nil {
		log.Info("exec reader threads at normal priority or unbound (needs CAP_SYS_NICE); exe and comm of quick execs may be lost", "error", err)
	}
	rd := readerProc{spec: spec, readExec: (*atomic.Uint32)(unsafe.Pointer(&page[0])),
		w: recordBuilder{b: make([]byte, 0, 64<<10)}}
	buf := make([]byte, 64<<10)
	ppid := os.Getppid()
	for {
		// Raw: this process's only goroutine keeps its P while it waits.
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, readerSockFD, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		switch errno {
		case 0:
			rd.handle(buf[:n])
		case unix.EAGAIN, unix.EINTR:
			// The receive timeout: an agent gone without its death
			// signal (its thread that started us ended) ends us too.
			if os.Getppid() != ppid {
				return 0
			}
			continue
		case unix.ENOBUFS:
			rd.w.begin(recordOverrun, execKey{})
			rd.w.end(0, 0)
		default:
			log.Error("receive from the proc connector", "error", errno)
			return 1
		}
		if err := writeAll(readerPipeFD, rd.w.b); err != nil {
			return 0 // the agent closed its end: it is stopping
		}
		rd.w.b = rd.w.b[:0]
	}
}

// readerProc turns an exec reader's datagrams into records.
type readerProc struct {
	spec     readerSpec
	readExec *atomic.Uint32
	r        execReader
	w        recordBuilder
}

// handle appends a record for each exec in one datagram to p.w.
func (p *readerProc) handle(datagram []byte) {
	eachMessage(datagram, func(b []byte) {
		ev, err := parseProcEvent(b)
		if err != nil || ev.What != WhatExec {
			return
		}
		p.r.appendExec(&p.w, execKey{pid: ev.TGID, ts: ev.TimestampNS}, p.readExec.Load() != 0, p.spec.hostMnt, p.spec.cgroup)
	}, func() {})
}

// writeAll writes b to fd, a blocking pipe, with raw system calls.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch errno {
		case 0:
			b = b[n:]
		case unix.EINTR:
		default:
			return errno
		}
	}
	return nil
}

// realtimeThreads puts every thread of this process at the lowest
// real-time priority and, unless cpu is -1, binds it to cpu. Threads the
// runtime starts later inherit both from the thread that starts them.
func realtimeThreads(cpu int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var set unix.CPUSet
	if cpu >= 0 {
		set.Set(cpu)
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
		if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
			errs = append(errs, fmt.Errorf("sched_setattr SCHED_FIFO thread %d: %w", tid, err))
		}
		if cpu >= 0 {
			if err := unix.SchedSetaffinity(tid, &set); err != nil {
				errs = append(errs, fmt.Errorf("sched_setaffinity thread %d cpu %d: %w", tid, cpu, err))
			}
		}
	}
	return errors.Join(errs...)
}

// execProcs are the agent's side of its exec reader processes: it starts
// them, publishes whether exe, stat and argv are to be read, and drains
// their pipes into the cache the main reader takes an exec's reads from.
// Used from the main reader's goroutine only.
type execProcs struct {
	s     *Source
	cache *prefetchCache
	page  []byte
	procs []*execProc
	tmp   []byte
}

type execProc struct {
	cmd  *exec.Cmd
	fd   int    // the pipe's read end, non-blocking
	buf  []byte // read, not yet a whole record
	eof  bool
	done chan struct{} // closed once the process is reaped
}

// readerCPUs returns the CPUs exec reader processes are bound to, one
// each: the first and the last this process may run on, so that one
// stalled CPU leaves the other reading; -1 (unbound) for the one reader
// of a one-CPU machine.
func readerCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() < 2 {
		return []int{-1}
	}
	first, last := -1, -1
	for cpu := range len(set) * 64 {
		if set.IsSet(cpu) {
			if first < 0 {
				first = cpu
			}
			last = cpu
		}
	}
	return []int{first, last}
}

// startExecProcs starts an exec reader process on each of cpus, all
// reading sock (the exec-only socket).
func (s *Source) startExecProcs(sock *rawSocket, cpus []int, cache *prefetchCache) (_ *execProcs, err error) {
	e := &execProcs{s: s, cache: cache, tmp: make([]byte, 64<<10)}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	mfd, err := unix.MemfdCreate("ruled-exec-readers", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	page := os.NewFile(uintptr(mfd), "exec reader page")
	defer page.Close()
	if err := unix.Ftruncate(mfd, flagPage); err != nil {
		return nil, fmt.Errorf("size the shared page: %w", err)
	}
	if e.page, err = unix.Mmap(mfd, 0, flagPage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("map the shared page: %w", err)
	}
	e.publish(s.readExecNow())
	for _, cpu := range cpus {
		p, err := e.start(sock, page, readerSpec{cpu: cpu, hostMnt: s.cfg.HostMountNS, cgroup: s.cfg.ContainerOf != nil})
		if err != nil {
			return nil, err
		}
		e.procs = append(e.procs, p)
	}
	s.log.Info("proc connector exec readers started", "processes", len(e.procs), "cpus", cpus)
	return e, nil
}

func (e *execProcs) start(sock *rawSocket, page *os.File, spec readerSpec) (*execProc, error) {
	var pfd [2]int
	if err := unix.Pipe2(pfd[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	w := os.NewFile(uintptr(pfd[1]), "exec reader pipe")
	defer w.Close()
	p := &execProc{fd: pfd[0], done: make(chan struct{})}
	if err := unix.SetNonblock(p.fd, true); err != nil {
		unix.Close(p.fd)
		return nil, fmt.Errorf("pipe: %w", err)
	}
	// Room for a stall of the main reader: ~2,000 execs of ~500 bytes.
	_, _ = unix.FcntlInt(uintptr(pfd[1]), unix.F_SETPIPE_SZ, 1<<20)
	sfd, err := unix.Dup(sock.fd)
	if err != nil {
		unix.Close(p.fd)
		return nil, fmt.Errorf("dup the exec socket: %w", err)
	}
	sf := os.NewFile(uintptr(sfd), "proc connector exec socket")
	defer sf.Close()
	cmd := exec.Command(e.s.cfg.ExecReader)
	cmd.Args = []string{"ruled-exec-reader"}
	cmd.Env = []string{execReaderEnv + "=" + spec.String()}
	cmd.ExtraFiles = []*os.File{sf, w, page}
	cmd.Stderr = os.Stderr
	// The death signal goes with the thread that forks: this one stays
	// (an unlocked thread outlives its goroutine).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		unix.Close(p.fd)
		return nil, fmt.Errorf("start exec reader %s: %w", e.s.cfg.ExecReader, err)
	}
	p.cmd = cmd
	go func() {
		// Ends when the process does: stop kills it.
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// publish tells the exec readers whether to read exe, stat and argv.
func (e *execProcs) publish(readExec bool) {
	var v uint32
	if readExec {
		v = 1
	}
	w := (*atomic.Uint32)(unsafe.Pointer(&e.page[0]))
	if w.Load() != v {
		w.Store(v)
	}
}

// pull drains the pipes into the cache. A pipe that ends (its process
// exited) or sends what is not a record is read no more; when none is
// left, the main reader reads every exec itself (ExecReadLate).
func (e *execProcs) pull() {
	for _, p := range e.procs {
		for !p.eof {
			n, err := unix.Read(p.fd, e.tmp)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n == 0 {
				if n == 0 && err == nil {
					e.gone(p, errors.New("exited"))
				} else if err != unix.EAGAIN {
					e.gone(p, fmt.Errorf("read its pipe: %w", err))
				}
				break
			}
			p.buf = append(p.buf, e.tmp[:n]...)
			e.records(p)
		}
	}
}

// records takes the whole records at the front of p.buf.
func (e *execProcs) records(p *execProc) {
	b := p.buf
	for len(b) > 0 {
		rec, n, err := nextRecord(b)
		if err != nil {
			e.s.malformed.Add(1)
			e.gone(p, err)
			return
		}
		if n == 0 {
			break
		}
		b = b[n:]
		switch rec.kind {
		case recordOverrun:
			e.s.prefetchOverruns.Add(1)
		case recordExec:
			e.cache.put(rec.key, rec.info(e.s.cfg.ContainerOf))
		}
	}
	p.buf = append(p.buf[:0], b...)
}

// gone stops reading p; the last one gone leaves every read to the main
// reader.
func (e *execProcs) gone(p *execProc, why error) {
	p.eof = true
	p.buf = nil
	if p.cmd != nil {
		_ = p.cmd.Process.Kill()
	}
	left := 0
	for _, q := range e.procs {
		if !q.eof {
			left++
		}
	}
	e.s.log.Warn("proc connector exec reader stopped; its execs are read later, by the main reader", "pid", p.pid(), "error", why, "readers left", left)
	if left == 0 {
		e.cache.running.Store(false)
	}
}

func (p *execProc) pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// stop ends the exec reader processes and waits for them (their pipe's
// end closes, and a kill ends one blocked elsewhere).
func (e *execProcs) stop() {
	for _, p := range e.procs {
		unix.Close(p.fd)
		if p.cmd != nil {
			_ = p.cmd.Process.Kill()
		}
	}
	for _, p := range e.procs {
		if p.cmd == nil {
			continue
		}
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			e.s.log.Warn("proc connector exec reader not reaped in 5 s", "pid", p.pid())
		}
	}
	if e.page != nil {
		_ = unix.Munmap(e.page)
	}
	e.cache.running.Store(false)
}
