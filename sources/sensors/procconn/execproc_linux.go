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
// They put each exec's bytes in a ring in shared memory (ring.go) that the
// main reader drains.

// execReaderEnv names the environment variable that makes a process an
// exec reader (ServeExecReader); its value is a readerSpec.
const execReaderEnv = "RULED_PROCCONN_EXEC_READER"

// An exec reader's descriptors (exec.Cmd.ExtraFiles start at 3).
const (
	readerSockFD = 3 // the exec-only proc connector socket, shared by all
	readerRingFD = 4 // a memfd holding its ring to the main reader
)

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
	// the end of the agent is (PR_SET_PDEATHSIG; its stop kills us).
	signal.Ignore(syscall.SIGHUP)
	mem, err := unix.Mmap(readerRingFD, 0, ringHeader+ringSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		log.Error("map the ring", "error", err)
		return 2
	}
	out, err := newRing(mem)
	if err != nil {
		log.Error("map the ring", "error", err)
		return 2
	}
	if err := realtimeThreads(spec.cpu); err != nil {
		log.Info("exec reader threads at normal priority or unbound (needs CAP_SYS_NICE); exe and comm of quick execs may be lost", "error", err)
	}
	rd := readerProc{spec: spec, readExec: func() bool { return out.readExec.Load() != 0 },
		w: recordBuilder{b: make([]byte, 0, 64<<10)}}
	buf := make([]byte, 64<<10)
	ppid := os.Getppid()
	for {
		// Raw: this process's only goroutine keeps its P while it waits.
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, readerSockFD, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		switch errno {
		case 0:
			rd.w.b = rd.w.b[:0]
			rd.handle(buf[:n])
			if len(rd.w.b) > 0 {
				// A full ring (the agent stalled) drops these: the
				// main reader reads them later, counted.
				out.put(rd.w.b)
			}
		case unix.EAGAIN, unix.EINTR:
			// The receive timeout: an agent gone without its death
			// signal (its thread that started us ended) ends us too.
			if os.Getppid() != ppid {
				return 0
			}
		case unix.ENOBUFS:
			out.dropped.Add(1)
		default:
			log.Error("receive from the proc connector", "error", errno)
			return 1
		}
	}
}

// readerProc turns an exec-only socket's datagrams into records: in an
// exec reader process, and in the Falco plugin's reader thread.
type readerProc struct {
	spec     readerSpec
	readExec func() bool // whether to read exe, stat and argv, asked per exec
	r        execReader
	w        recordBuilder
}

// handle appends a record for each exec in one datagram to p.w.
func (p *readerProc) handle(datagram []byte) {
	host := unmarkHostExec(datagram) // cut by the host exec filter
	eachMessage(datagram, func(b []byte) {
		ev, err := parseProcEvent(b)
		if err != nil || ev.What != WhatExec {
			return
		}
		p.r.appendExec(&p.w, execKey{pid: ev.TGID, ts: ev.TimestampNS}, p.readExec(), p.spec.hostMnt, host, p.spec.cgroup)
	}, func() {})
}

// putRecords puts the reads of the whole records at the front of b in
// cache and returns what follows them (part of a record), or the error of
// what is not a record.
func (s *Source) putRecords(cache *prefetchCache, b []byte) ([]byte, error) {
	for len(b) > 0 {
		rec, n, err := nextRecord(b)
		if err != nil {
			return b, err
		}
		if n == 0 {
			break
		}
		b = b[n:]
		cache.put(rec.key, rec.info(s.cfg.ContainerOf))
	}
	return b, nil
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
		if err := setRealtime(tid); err != nil {
			errs = append(errs, fmt.Errorf("thread %d: %w", tid, err))
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
// their rings into the cache the main reader takes an exec's reads from.
// Used from the main reader's goroutine only.
type execProcs struct {
	s     *Source
	cache *prefetchCache
	procs []*execProc
}

type execProc struct {
	cmd     *exec.Cmd
	mem     []byte
	ring    ring
	buf     []byte // taken from the ring, not yet decoded
	dropped uint64 // the ring's drop count already added to Stats
	gone    bool
	done    chan struct{} // closed once the process is reaped
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
	e := &execProcs{s: s, cache: cache}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	for _, cpu := range cpus {
		p, err := e.start(sock, readerSpec{cpu: cpu, hostMnt: s.cfg.HostMountNS, cgroup: s.cfg.ContainerOf != nil})
		if err != nil {
			return nil, err
		}
		e.procs = append(e.procs, p)
	}
	s.log.Info("proc connector exec readers started", "processes", len(e.procs), "cpus", cpus)
	return e, nil
}

func (e *execProcs) start(sock *rawSocket, spec readerSpec) (*execProc, error) {
	mfd, err := unix.MemfdCreate("ruled-exec-reader", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mf := os.NewFile(uintptr(mfd), "exec reader ring")
	defer mf.Close()
	if err := unix.Ftruncate(mfd, ringHeader+ringSize); err != nil {
		return nil, fmt.Errorf("size the ring: %w", err)
	}
	p := &execProc{done: make(chan struct{})}
	if p.mem, err = unix.Mmap(mfd, 0, ringHeader+ringSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("map the ring: %w", err)
	}
	if p.ring, err = newRing(p.mem); err != nil {
		_ = unix.Munmap(p.mem)
		return nil, err
	}
	p.ring.readExec.Store(boolWord(e.s.readExecNow()))
	sfd, err := unix.Dup(sock.fd)
	if err != nil {
		_ = unix.Munmap(p.mem)
		return nil, fmt.Errorf("dup the exec socket: %w", err)
	}
	sf := os.NewFile(uintptr(sfd), "proc connector exec socket")
	defer sf.Close()
	cmd := exec.Command(e.s.cfg.ExecReader)
	cmd.Args = []string{"ruled-exec-reader"}
	cmd.Env = []string{execReaderEnv + "=" + spec.String()}
	cmd.ExtraFiles = []*os.File{sf, mf}
	cmd.Stderr = os.Stderr
	// The death signal goes with the thread that forks: this one stays
	// (an unlocked thread outlives its goroutine).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		_ = unix.Munmap(p.mem)
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

func boolWord(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// publish tells the exec readers whether to read exe, stat and argv.
func (e *execProcs) publish(readExec bool) {
	v := boolWord(readExec)
	for _, p := range e.procs {
		if !p.gone && p.ring.readExec.Load() != v {
			p.ring.readExec.Store(v)
		}
	}
}

// pull drains the rings into the cache. A reader that exited, or put in
// its ring what is not a record, is read no more; when none is left, the
// main reader reads every exec itself (ExecReadLate).
func (e *execProcs) pull() {
	for _, p := range e.procs {
		if p.gone {
			continue
		}
		exited := false
		select {
		case <-p.done:
			exited = true // what it put before is still taken below
		default:
		}
		p.buf = p.ring.take(p.buf)
		if d := p.ring.dropped.Load(); d != p.dropped {
			e.s.prefetchOverruns.Add(d - p.dropped)
			p.dropped = d
		}
		e.records(p)
		if exited && !p.gone {
			e.gone(p, fmt.Errorf("exited: %v", p.cmd.ProcessState))
		}
	}
}

// records takes the whole records at the front of p.buf.
func (e *execProcs) records(p *execProc) {
	rest, err := e.s.putRecords(e.cache, p.buf)
	if err != nil {
		e.s.malformed.Add(1)
		e.gone(p, err)
		return
	}
	p.buf = append(p.buf[:0], rest...)
}

// gone stops reading p; the last one gone leaves every read to the main
// reader.
func (e *execProcs) gone(p *execProc, why error) {
	p.gone = true
	p.buf = nil
	_ = p.cmd.Process.Kill()
	left := 0
	for _, q := range e.procs {
		if !q.gone {
			left++
		}
	}
	e.s.log.Warn("proc connector exec reader stopped; its execs are read later, by the main reader", "pid", p.cmd.Process.Pid, "error", why, "readers left", left)
	if left == 0 {
		e.cache.running.Store(false)
	}
}

// stop ends the exec reader processes and waits for them.
func (e *execProcs) stop() {
	for _, p := range e.procs {
		_ = p.cmd.Process.Kill()
	}
	for _, p := range e.procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			e.s.log.Warn("proc connector exec reader not reaped in 5 s", "pid", p.cmd.Process.Pid)
		}
		_ = unix.Munmap(p.mem)
	}
	e.cache.running.Store(false)
}
