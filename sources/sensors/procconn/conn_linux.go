package procconn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/internal/mmsg"
)

var _ sources.Source = (*Source)(nil)

// Run subscribes to process events and emits them until ctx ends. It
// returns nil on cancellation. Unsubscribing (PROC_CN_MCAST_IGNORE) happens
// before the socket closes, so the kernel stops building events for a
// listener that is gone.
func (s *Source) Run(ctx context.Context, emit func(*event.Event)) error {
	conn, err := openSocket(s.cfg.ReadBuffer, 0, s.log)
	if err != nil {
		return fmt.Errorf("proc connector socket: %w", err)
	}
	if err := conn.send(subscribeMsg(mcastListen)); err != nil {
		unix.Close(conn.fd)
		return fmt.Errorf("subscribe proc connector: %w", err)
	}
	// Unsubscribed and closed once every reader is done with it (the
	// deferred waits below run first).
	defer conn.close()
	var wg sync.WaitGroup
	done := make(chan struct{})
	resync := make(chan struct{}, 1)
	if s.cfg.Resync != nil {
		wg.Go(func() { s.resyncLoop(ctx, done, resync) })
	}
	defer func() {
		close(done)
		wg.Wait()
	}()

	if s.cfg.HostMountNS != 0 {
		if fd := holdMountNS(s.cfg.HostMountNS); fd >= 0 {
			defer unix.Close(fd)
		}
	}
	var pre *rawSocket
	if s.cfg.ReadExec || s.cfg.ContainerOf != nil {
		if pre, err = openExecSocket(s.cfg.ReadBuffer, s.log); err != nil {
			s.log.Info("proc connector: no exec-only subscription (per-socket event filter, Linux 6.6); /proc reads stay on the receive thread", "error", err)
			pre = nil
		}
	}
	if pre == nil {
		// The receive loop runs on a thread of its own at real-time
		// priority (when allowed): the /proc reads at receive race the
		// process's exit, and under an exec storm an ordinary thread
		// waits behind the spawners. The goroutine never unlocks its
		// thread, so the thread (and its priority) ends with it.
		defer readerP()()
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			s.raisePriority()
			errc <- s.receive(ctx, conn, resync, emit, nil)
		}()
		return <-errc
	}
	// Only execs need reading at once, before the process is gone: a
	// second socket that the kernel sends execs only wakes a real-time
	// thread once per exec (not for every fork and exit too) and hands
	// its reads over in a cache; every event, in order, comes through the
	// main socket, read in batches by an ordinary goroutine.
	cache := newPrefetchCache()
	hf := s.hostExecFilter(conn)
	defer hf.close()
	if s.cfg.ExecReader != "" {
		procs, err := s.startExecProcs(pre, readerCPUs(), cache)
		if err == nil {
			cache.running.Store(true)
			defer func() {
				procs.stop()
				pre.close()
			}()
			return s.receive(ctx, conn, resync, emit, &execSockets{pre: pre, cache: cache, procs: procs, hf: hf})
		}
		s.log.Warn("proc connector exec reader processes not started; reading execs in this process", "error", err)
	}
	// The reader is a thread of this process (the Falco plugin): the
	// Go runtime's stops and preemptions hold it up now and then (see
	// execproc_linux.go).
	defer readerP()()
	var pwg sync.WaitGroup
	cache.running.Store(true)
	pwg.Go(func() {
		defer cache.running.Store(false)
		runtime.LockOSThread()
		s.raisePriority()
		s.prefetch(ctx, pre, cache)
		pre.close()
	})
	defer pwg.Wait()
	return s.receive(ctx, conn, resync, emit, &execSockets{pre: pre, cache: cache, hf: hf})
}

// execSockets is what the main reader works with when an exec-only
// socket is read by exec readers.
type execSockets struct {
	pre   *rawSocket      // the exec-only socket
	cache *prefetchCache  // the readers' reads
	procs *execProcs      // the readers, when processes of their own
	hf    *hostExecFilter // nil when not loaded
}

// hostExecFilter loads the host exec filter (hostexec_linux.go), with its
// capturing program when execs are read and this process sees paths as
// it walks them, and, when host execs can go unread (audit may bring
// their executable and argv, or none is read), puts its marking program
// on the main socket conn. It returns nil when no host mount namespace is
// known, or when the filter cannot be had (logged: the exec readers then
// wake for every exec and read its namespace, as without it).
func (s *Source) hostExecFilter(conn *rawSocket) *hostExecFilter {
	if s.cfg.HostMountNS == 0 {
		return nil
	}
	// The capturing program takes what an exec reader would read of a
	// host exec, when one is to be read at all.
	withCapture := s.cfg.ReadExec && captureRootOK(s.cfg.HostMountNS)
	hf, capErr, err := newHostExecFilter(s.cfg.HostMountNS, withCapture)
	if err == nil && (!s.cfg.ReadExec || s.cfg.ExecFromAudit != nil) {
		err = attachFilter(conn.fd, hf.mark)
		if err != nil {
			hf.close()
		}
	}
	if err != nil {
		s.log.Info("proc connector: no kernel filter for host execs; exec readers wake for every exec", "error", err)
		return nil
	}
	switch {
	case capErr != nil:
		s.log.Info("proc connector: host execs' exe and argv not taken in the kernel; exec readers read them", "error", capErr)
	case hf.capture != nil:
		s.log.Info("proc connector: host execs' exe and argv taken in the kernel while audit does not bring them")
	case s.cfg.ReadExec:
		s.log.Info("proc connector: host execs' exe and argv not taken in the kernel (this process's root is not its mount namespace's); exec readers read them")
	}
	return hf
}

// readerP gives a real-time reader thread of this process a P of its
// own for as long as it runs, and returns what gives it back. The thread
// waits in raw system calls, which the Go runtime counts as running: it
// holds its P throughout, and the rest of the process would have one
// fewer (with GOMAXPROCS 1, none but when the runtime preempts it).
func readerP() (restore func()) {
	n := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(n + 1)
	return func() { runtime.GOMAXPROCS(n) }
}

// holdMountNS opens the host's mount namespace (init's, else this
// process's, if its inode is host) and returns the descriptor, or -1. While
// it is open, the kernel keeps the namespace's nsfs dentry: each exec's
// PIDFD_GET_MNT_NAMESPACE of a host process (execReader.mountNS) reuses it
// instead of building one that its close frees again, ~2.5 µs of the ~10
// per exec (BENCHMARKS.md, issue 15, fourth pass).
func holdMountNS(host uint64) int {
	for _, p := range []string{"/proc/1/ns/mnt", "/proc/self/ns/mnt"} {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Ino == host {
			return fd
		}
		unix.Close(fd)
	}
	return -1
}

// rawSocket is a proc connector socket read with raw system calls and
// waited on in poll(2), never registered in the runtime's poller. The
// poller's epoll is edge-triggered: every message the kernel queues on a
// registered socket wakes the thread sleeping in epoll_wait, even while
// no goroutine is waiting to read (the batched reader's pause). Under an
// exec storm that was three wake-ups and context switches per exec (a
// fork, an exec, an exit), most of the agent's (issue 15, BENCHMARKS.md).
type rawSocket struct{ fd int }

// execRecvTimeout bounds a blocking receive, so the prefetch thread sees
// its context end.
const execRecvTimeout = 100 * time.Millisecond

// openSocket opens and binds a proc connector socket with a receive
// buffer of rcvbuf bytes (SO_RCVBUFFORCE, which root may use beyond
// net.core.rmem_max, else SO_RCVBUF; what the kernel granted is logged)
// and, unless 0, a receive timeout.
func openSocket(rcvbuf int, recvTimeout time.Duration, log *slog.Logger) (*rawSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			log.Warn("proc connector receive buffer", "want_bytes", rcvbuf, "error", fmt.Errorf("setsockopt SO_RCVBUF: %w", err))
		}
	}
	if got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
		log.Debug("proc connector receive buffer", "bytes", got)
	}
	if recvTimeout > 0 {
		tv := unix.NsecToTimeval(int64(recvTimeout))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("SO_RCVTIMEO: %w", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind: %w", err)
	}
	return &rawSocket{fd: fd}, nil
}

// openExecSocket subscribes a socket to exec events only. It fails on a
// kernel without per-socket filters, which ignores the request without
// acknowledging it.
func openExecSocket(rcvbuf int, log *slog.Logger) (*rawSocket, error) {
	sock, err := openSocket(rcvbuf, execRecvTimeout, log)
	if err != nil {
		return nil, err
	}
	fd := sock.fd
	// The kernel acknowledges a request by an event that passes only an
	// unfiltered socket's filter: subscribe to every kind first (an older
	// kernel ignores the 8-byte form and does not answer), then narrow
	// the filter to execs.
	ack := uint32(os.Getpid())<<4 | 0x5
	if err := sock.send(filterMsg(mcastListen, whatAll, ack)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	if err := sock.awaitAck(ack); err != nil {
		sock.close()
		return nil, err
	}
	if err := sock.send(filterMsg(mcastListen, WhatExec, 0)); err != nil {
		sock.close()
		return nil, fmt.Errorf("filter: %w", err)
	}
	return sock, nil
}

// awaitAck reads until the acknowledgement of the request numbered ack.
// The kernel answers while handling the request, so it is queued by the
// time the request was sent; the wait bounds a kernel that does not answer.
func (c *rawSocket) awaitAck(ack uint32) error {
	buf := make([]byte, 64<<10)
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOBUFS) {
				continue
			}
			return fmt.Errorf("receive: %w", err)
		}
		acked, errno := false, uint32(0)
		eachMessage(buf[:n], func(b []byte) {
			if p, err := parseProcEvent(b); err == nil && !acked {
				acked, errno = isAckOf(&p, ack)
			}
		}, func() {})
		if acked {
			if errno != 0 {
				return fmt.Errorf("subscription refused: %w", unix.Errno(errno))
			}
			return nil
		}
	}
	return errors.New("no acknowledgement of the filtered subscription (kernel before 6.6)")
}

func (c *rawSocket) send(data []byte) error {
	b := make([]byte, unix.NLMSG_HDRLEN+len(data))
	ne := binary.NativeEndian
	ne.PutUint32(b[0:4], uint32(len(b)))
	ne.PutUint16(b[4:6], unix.NLMSG_DONE)
	copy(b[unix.NLMSG_HDRLEN:], data)
	return unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// close unsubscribes (so the kernel stops counting a listener) and closes.
func (c *rawSocket) close() {
	_ = c.send(subscribeMsg(mcastIgnore))
	unix.Close(c.fd)
}

// prefetch reads, for each exec the exec-only socket reports, what must be
// read while the process lives, and leaves it in cache for the main
// reader. It returns when ctx ends or the socket fails.
func (s *Source) prefetch(ctx context.Context, sock *rawSocket, cache *prefetchCache) {
	rd := readerProc{spec: readerSpec{cpu: -1, hostMnt: s.cfg.HostMountNS, cgroup: s.cfg.ContainerOf != nil},
		readExec: s.readExecNow}
	buf := make([]byte, 64<<10)
	for ctx.Err() == nil {
		// Raw, as the /proc reads: the thread keeps its P while it waits
		// (see waitReadable). The receive timeout and signals end it.
		// One datagram a call: execs seldom queue up behind the one that
		// woke this thread, and recvmmsg costs more for one
		// (BenchmarkDrain/*/1).
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(sock.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		switch errno {
		case 0:
		case unix.EAGAIN, unix.EINTR:
			continue
		case unix.ENOBUFS:
			// The main socket still brings every exec; their reads then
			// happen there, late (counted in ExecReadLate).
			s.prefetchOverruns.Add(1)
			continue
		default:
			if ctx.Err() == nil {
				s.log.Warn("proc connector exec socket failed; reads at exec move to the main reader", "error", errno)
			}
			return
		}
		rd.w.b = rd.w.b[:0]
		rd.handle(buf[:n])
		if _, err := s.putRecords(cache, rd.w.b); err != nil {
			// Not from bytes this thread just encoded itself.
			panic(fmt.Sprintf("procconn: exec record: %v", err))
		}
	}
}

// waitReadable blocks this thread in poll(2) until fd has a message or
// timeout passes. Blocking here, not in the runtime's netpoller, lets the
// kernel wake the high-priority receive thread itself.
func waitReadable(fd int, timeout time.Duration) error {
	ts := unix.NsecToTimespec(int64(timeout))
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	// A raw syscall keeps this goroutine's P while it sleeps: with an
	// ordinary one the runtime hands the P to another thread, and on
	// waking this thread waits for a P behind the threads the storm
	// preempts. Signals (the runtime's preemption included) end ppoll
	// with EINTR, so it does not hold up a stop-the-world.
	_, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1,
		uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if errno != 0 && errno != unix.EINTR {
		return errno
	}
	return nil
}

// raisePriority puts the calling thread at real-time priority (setRealtime).
func (s *Source) raisePriority() {
	if err := setRealtime(0); err != nil {
		s.log.Info("proc connector receive thread stays at normal priority (needs CAP_SYS_NICE); exe and comm of quick execs may be lost",
			"error", err)
	}
}

// setRealtime puts thread tid (0: the calling thread) in SCHED_FIFO at the
// lowest real-time priority: above every ordinary thread, below the
// kernel's own. A reader sleeps in the kernel between messages, and the
// kernel's real-time throttling bounds it if it ever did not.
func setRealtime(tid int) error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
	if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
		return fmt.Errorf("sched_setattr SCHED_FIFO: %w", err)
	}
	return nil
}

// coalesceDelay is how long the batched reader lets messages accumulate
// after a wake-up: a fork+exec+exit is three messages, and waking for each
// costs more than reading them. A barrier asked for (Sync) ends it early,
// so only events nobody waits on wait this long. Under an exec storm each
// round is a timer wake-up of this reader and a batch handed downstream:
// 4 ms instead of 1 took the agent's context switches from ~2.8 to ~1.8
// and its CPU from ~135 to ~110 µs per exec with -sources procconn (exec
// to report p50 1.8 -> 3.5 ms; BENCHMARKS.md, issue 15, fourth pass).
//
// Beside audit, the order stage asks for a barrier whenever audit's record
// of a process comes before its fork was read; a barrier during the pause
// cuts it short. The pause used to shrink to 1 ms while barriers kept
// coming, which made every round under load a 1 ms one: with audit's
// receiver also at 4 ms, a steady 4 ms took the agent from 56-65 to 35-41
// µs per exec (BENCHMARKS.md, issue 15, sixth pass).
const coalesceDelay = 4 * time.Millisecond

// receive reads the main socket until ctx ends. With cache (an exec-only
// socket's thread reads at exec), it is an ordinary goroutine that waits
// in poll(2) (not the runtime's poller: see rawSocket) and reads in
// batches; without, it runs on the real-time thread, wakes for every
// message and reads at exec itself.
//
// After each drain of the socket it answers the newest barrier request
// (Sync) taken before the drain began: everything the socket held when
// the request came has then been handed to emit.
func (s *Source) receive(ctx context.Context, conn *rawSocket, resync chan<- struct{}, emit func(*event.Event), xs *execSockets) error {
	h := handler{s: s, bootWall: bootTime(), emit: emit, resync: resync}
	if xs != nil {
		h.execSockets = *xs
	}
	cache := h.cache
	br := newBatchReader(conn.fd)
	var served uint64 // the newest barrier answered
	var wk *waker
	if cache != nil {
		var err error
		if wk, err = newWaker(); err != nil {
			return err
		}
		defer wk.close()
		// A barrier (Sync) and the end of ctx end the wait in poll at
		// once; the real-time thread's ppoll ends within its timeout.
		stop := context.AfterFunc(ctx, wk.wake)
		defer stop()
		if s.cfg.Drained != nil {
			wake := wk.wake
			s.wakeRead.Store(&wake)
			defer s.wakeRead.Store(nil)
		}
	}
	if s.cfg.Drained != nil {
		s.syncable.Store(true)
		defer s.syncable.Store(false)
	}
	// woken clears a barrier's wake-up; before the request is read, so a
	// request made after it wakes the next wait.
	woken := func() {
		wk.clear()
		s.wakePending.Store(false)
	}
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	// busy: the last drain read something, so more is likely coming. The
	// batched reader then pauses and drains again without waiting in poll
	// first: under load, one timer wake-up per round. A drain that finds
	// nothing goes back to poll.
	busy := false
	for {
		switch {
		case cache == nil:
			if err := waitReadable(conn.fd, 100*time.Millisecond); err != nil && ctx.Err() == nil {
				return fmt.Errorf("wait for proc connector: %w", err)
			}
			s.wakePending.Store(false)
		case busy:
			s.coalesce(ctx, pause, coalesceDelay)
			if s.wakePending.Load() {
				woken()
			}
		default:
			ready, wake, err := conn.wait(wk, 100*time.Millisecond)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				return fmt.Errorf("wait for proc connector: %w", err)
			case wake:
				woken() // a barrier: drain and answer now
			case ready:
				s.coalesce(ctx, pause, coalesceDelay) // let more gather
			}
		}
		req := s.syncReq.Load()
		read, err := h.drain(ctx, br, req > served)
		if err != nil {
			return err
		}
		busy = cache != nil && read > 0
		if ctx.Err() != nil {
			return nil
		}
		if req > served {
			served = req
			s.syncs.Add(1)
			s.cfg.Drained(req)
		}
	}
}

// wait blocks in poll(2) until the socket has a message (ready), wk was
// woken (wake) or timeout passes. A blocking system call: the runtime
// gives this goroutine's P to others meanwhile.
func (c *rawSocket) wait(wk *waker, timeout time.Duration) (ready, wake bool, err error) {
	fds := [2]unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}, {Fd: int32(wk.fd), Events: unix.POLLIN}}
	_, err = unix.Poll(fds[:], int(timeout.Milliseconds()))
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return false, false, nil
		}
		return false, false, fmt.Errorf("poll: %w", err)
	}
	return fds[0].Revents&unix.POLLIN != 0, fds[1].Revents&unix.POLLIN != 0, nil
}

// waker ends a wait in poll(2) from another goroutine: an eventfd, closed
// under its lock so that a late wake never writes to a reused descriptor.
type waker struct {
	mu sync.Mutex
	fd int
}

func newWaker() (*waker, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("proc connector wake eventfd: %w", err)
	}
	return &waker{fd: fd}, nil
}

func (w *waker) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd >= 0 {
		one := [8]byte{1}
		_, _ = unix.Write(w.fd, one[:]) // EAGAIN: already woken
	}
}

// clear takes a wake-up back; a nil waker has none.
func (w *waker) clear() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd >= 0 {
		var b [8]byte
		_, _ = unix.Read(w.fd, b[:]) // EAGAIN: not woken
	}
}

func (w *waker) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	unix.Close(w.fd)
	w.fd = -1
}

// coalesce waits d, or less when a barrier is asked for.
func (s *Source) coalesce(ctx context.Context, t *time.Timer, d time.Duration) {
	t.Reset(d)
	select {
	case <-t.C:
		return
	case <-s.wakePause:
	case <-ctx.Done():
	}
	t.Stop()
}

// drain reads what the socket holds, in batches, and hands it to emit. It
// returns how many datagrams and losses it read, or the error that ends
// the receiver (nil when ctx ended). A batch short of recvBatch ended on
// an error, almost always EAGAIN: unless strict, the drain stops there
// without the call that would say so. Strict (a barrier waits on this
// drain) reads on until a call reports EAGAIN, so that an overrun the
// kernel kept for the next call is read before the barrier is answered.
func (h *handler) drain(ctx context.Context, br *mmsg.Reader, strict bool) (int, error) {
	read := 0
	readExec := h.s.readExecNow()
	if h.hf != nil {
		// While audit brings each exec's executable and argv, a host
		// exec needs no read at exec: the kernel keeps it from the
		// exec readers. Otherwise it takes it itself (the capturing
		// program), or marks it, so that they skip the namespace read.
		if err := h.hf.follow(h.pre, !readExec); err != nil && !h.hfFailed {
			h.hfFailed = true
			h.s.log.Warn("proc connector host exec filter", "error", err)
		}
	}
	if h.procs != nil {
		h.procs.publish(readExec)
		h.procs.pull()
	}
	for ctx.Err() == nil {
		n, errno := br.Read(unix.MSG_DONTWAIT)
		switch errno {
		case 0:
		case unix.EAGAIN:
			return read, nil
		default:
			read++
			if err := h.failed(ctx, errno); err != nil {
				return read, err
			}
			continue
		}
		for i := range n {
			b, cut := br.Datagram(i)
			if cut {
				h.s.malformed.Add(1)
				continue
			}
			h.hostExec = h.hf != nil && unmarkHostExec(b)
			eachMessage(b, h.message, func() { h.s.malformed.Add(1) })
		}
		read += n
		if n < recvBatch && !strict {
			return read, nil
		}
	}
	return read, nil
}

// failed handles a receive that returned an error: a loss (the socket
// overran), or the error that ends the receiver (nil when ctx ended).
func (h *handler) failed(ctx context.Context, err unix.Errno) error {
	s := h.s
	switch err {
	case unix.ENOBUFS:
		s.overruns.Add(1)
		if time.Since(h.lastLossLog) > 10*time.Second {
			h.lastLossLog = time.Now()
			s.log.Warn("proc connector overrun, events lost; resynchronizing from /proc",
				"overruns", s.overruns.Load(), "lost", s.lost.Load())
		}
		select {
		case h.resync <- struct{}{}:
		default:
		}
	case unix.EINTR:
	default:
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("receive proc connector: %w", err)
	}
	return nil
}

// handler turns received proc connector messages into events.
type handler struct {
	s        *Source
	bootWall time.Time
	seqs     seqTracker
	execs    execReader
	rec      recordBuilder
	emit     func(*event.Event)
	// The exec-only socket and its readers; zero without.
	execSockets
	hfFailed bool // a filter change failed (logged once)
	// hostExec: the datagram at hand is an exec the kernel filter found
	// in the host's mount namespace.
	hostExec    bool
	resync      chan<- struct{}
	lastLossLog time.Time
}

func (h *handler) message(data []byte) {
	s := h.s
	s.received.Add(1)
	p, err := parseProcEvent(data)
	if err != nil {
		s.malformed.Add(1)
		return
	}
	s.byType[slotOf(p.What)].Add(1)
	if p.What == WhatNone {
		return // subscription ack
	}
	if n := h.seqs.observe(p.CPU, p.Seq); n > 0 {
		s.lost.Add(n)
	}
	ev := toEvent(&p, h.bootWall)
	if ev == nil {
		if p.PID != p.TGID {
			s.threads.Add(1)
		}
		return
	}
	if ev.Evt.Type == event.TypeExecve && (s.cfg.ReadExec || s.cfg.ContainerOf != nil) {
		in, ok := execInfo{}, false
		if h.hostExec && h.hf.dropping {
			// The kernel kept it from the exec readers, and a reader
			// would have read only its namespace: the host's.
			in, ok = execInfo{mnt: h.hf.host}, true
			s.hostExecs.Add(1)
		}
		if h.cache != nil && !ok {
			k := execKey{pid: p.TGID, ts: p.TimestampNS}
			in, ok = h.take(k)
			// This reader can come to an exec while an exec reader
			// still reads the one before: waiting for it costs less
			// than reading again, later. An exec older than the wait
			// (a backlog after a stall, a prefetch overrun) is read
			// at once.
			for !ok && h.cache.running.Load() && monotonicNow() < p.TimestampNS+uint64(prefetchWaitMax) {
				time.Sleep(prefetchWait)
				in, ok = h.take(k)
			}
			if !ok {
				s.execReadLate.Add(1)
			}
		}
		if !ok {
			in = s.readAtExec(&h.execs, &h.rec, execKey{pid: p.TGID, ts: p.TimestampNS}, h.hostExec)
		}
		if in.readExec {
			ev.Proc.Exe, ev.Proc.Name, ev.Proc.Args = in.exe, in.name, in.args
			ev.Proc.SID, ev.Proc.TTY = in.sid, in.tty
			if !in.complete {
				s.execIncomplete.Add(1)
			}
		}
		if in.hasCID {
			ev.Container.ID = in.cid
		}
		ev.NS.Mnt = int(in.mnt)
		for i, p := range [3]*event.Stdio{&ev.Proc.Stdin, &ev.Proc.Stdout, &ev.Proc.Stderr} {
			*p = event.Stdio{Type: in.stdio[i].Type, Name: in.stdio[i].Name}
		}
	}
	s.emitted.Add(1)
	h.emit(ev)
}

// take returns the exec readers' reads of the exec k, draining their
// rings first when they run in processes of their own and k is not in.
func (h *handler) take(k execKey) (execInfo, bool) {
	in, ok := h.cache.take(k)
	if !ok && h.hf != nil && h.hf.capture != nil {
		put, bad := h.hf.capture.drain(h.cache, h.hf.host)
		h.s.execsCaptured.Add(put)
		h.s.malformed.Add(bad)
		in, ok = h.cache.take(k)
	}
	if !ok && h.procs != nil {
		h.procs.pull()
		in, ok = h.cache.take(k)
	}
	return in, ok
}

// readAtExec reads what the event of the exec k needs while the process
// lives: its executable, name and argv (ReadExec, unless audit's record
// brings them) and its cgroup's container id (ContainerOf), unless its
// mount namespace is the host's (HostMountNS). w is the reader's scratch
// record: the same encoding an exec reader process sends (execrecord.go).
func (s *Source) readAtExec(r *execReader, w *recordBuilder, k execKey, host bool) execInfo {
	w.b = w.b[:0]
	r.appendExec(w, k, s.readExecNow(), s.cfg.HostMountNS, host, s.cfg.ContainerOf != nil)
	rec, _, err := nextRecord(w.b)
	if err != nil {
		// Not from bytes this process just encoded itself.
		panic(fmt.Sprintf("procconn: exec record: %v", err))
	}
	return rec.info(s.cfg.ContainerOf)
}

// readExecNow says whether an exec's exe, stat and cmdline are to be read
// at receive (ReadExec, and audit does not bring them).
func (s *Source) readExecNow() bool {
	return s.cfg.ReadExec && (s.cfg.ExecFromAudit == nil || !s.cfg.ExecFromAudit())
}

func (s *Source) resyncLoop(ctx context.Context, done <-chan struct{}, req <-chan struct{}) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-req:
		}
		if wait := s.cfg.ResyncEvery - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-done:
				t.Stop()
				return
			case <-t.C:
			}
		}
		last = time.Now()
		s.resyncs.Add(1)
		s.cfg.Resync()
	}
}

// monotonicNow is CLOCK_MONOTONIC in nanoseconds, the clock of
// proc_event.timestamp_ns.
func monotonicNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return math.MaxUint64 // no waiting on a clock that cannot be read
	}
	return uint64(ts.Nano())
}

// bootTime is the wall-clock time at CLOCK_MONOTONIC zero, the clock of
// proc_event.timestamp_ns.
func bootTime() time.Time {
	var ts unix.Timespec
	now := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return now // timestamps then drift by uptime; better than failing
	}
	return now.Add(-time.Duration(ts.Nano()))
}
