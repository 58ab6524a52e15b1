package procconn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/event"
)

var _ sources.Source = (*Source)(nil)

// Run subscribes to process events and emits them until ctx ends. It
// returns nil on cancellation. Unsubscribing (PROC_CN_MCAST_IGNORE) happens
// before the socket closes, so the kernel stops building events for a
// listener that is gone.
func (s *Source) Run(ctx context.Context, emit func(*event.Event)) error {
	conn, err := netlink.Dial(unix.NETLINK_CONNECTOR, &netlink.Config{Groups: cnIdxProc})
	if err != nil {
		return fmt.Errorf("dial proc connector: %w", err)
	}
	got, err := setReadBuffer(conn, s.cfg.ReadBuffer)
	if err != nil {
		s.log.Warn("proc connector receive buffer", "want_bytes", s.cfg.ReadBuffer, "error", err)
	} else {
		s.log.Debug("proc connector receive buffer", "bytes", got)
	}
	if err := send(conn, mcastListen); err != nil {
		conn.Close()
		return fmt.Errorf("subscribe proc connector: %w", err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		if err := send(conn, mcastIgnore); err != nil {
			s.log.Debug("unsubscribe proc connector", "error", err)
		}
		conn.Close()
	})
	resync := make(chan struct{}, 1)
	if s.cfg.Resync != nil {
		wg.Go(func() { s.resyncLoop(ctx, done, resync) })
	}
	defer func() {
		close(done)
		wg.Wait()
	}()

	// The receive loop runs on a thread of its own at real-time priority
	// (when allowed): the /proc reads at receive race the process's exit,
	// and under an exec storm an ordinary thread waits behind the
	// spawners. The goroutine never unlocks its thread, so the thread
	// (and its priority) ends with it.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := raisePriority(); err != nil {
			s.log.Info("proc connector receive thread stays at normal priority (needs CAP_SYS_NICE); exe and comm of quick execs may be lost", "error", err)
		}
		errc <- s.receive(ctx, conn, resync, emit)
	}()
	return <-errc
}

// waitReadable blocks this thread in poll(2) until conn has a message or
// timeout passes. Blocking here, not in the runtime's netpoller, lets the
// kernel wake the high-priority receive thread itself.
func waitReadable(rc syscall.RawConn, timeout time.Duration) error {
	var perr error
	ts := unix.NsecToTimespec(int64(timeout))
	cerr := rc.Control(func(fd uintptr) {
		fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		// A raw syscall keeps this goroutine's P while it sleeps: with an
		// ordinary one the runtime hands the P to another thread, and
		// on waking this thread waits for a P behind the threads the
		// storm preempts. Signals (the runtime's preemption included)
		// end ppoll with EINTR, so it does not hold up a stop-the-world.
		_, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1,
			uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if errno != 0 && errno != unix.EINTR {
			perr = errno
		}
	})
	if cerr != nil {
		return cerr
	}
	return perr
}

// raisePriority puts the calling thread in SCHED_FIFO at the lowest
// real-time priority: above every ordinary thread, below the kernel's own.
// The thread sleeps in poll between messages, and the kernel's real-time
// throttling bounds it if it ever did not.
func raisePriority() error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("sched_setattr SCHED_FIFO: %w", err)
	}
	return nil
}

func (s *Source) receive(ctx context.Context, conn *netlink.Conn, resync chan<- struct{}, emit func(*event.Event)) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("proc connector socket: %w", err)
	}
	h := handler{s: s, bootWall: bootTime(), emit: emit}
	buf := make([]byte, 64<<10)
	var lastLossLog time.Time
	for {
		if err := waitReadable(rc, 100*time.Millisecond); err != nil && ctx.Err() == nil {
			return fmt.Errorf("wait for proc connector: %w", err)
		}
		// Drain what is queued before waiting again; one datagram per
		// read, read directly (netlink.Conn.Receive allocates and peeks
		// per message, which an exec storm cannot afford here).
		for ctx.Err() == nil {
			n, err := recvDontWait(rc, buf)
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if errors.Is(err, unix.ENOBUFS) {
				s.overruns.Add(1)
				if time.Since(lastLossLog) > 10*time.Second {
					lastLossLog = time.Now()
					s.log.Warn("proc connector overrun, events lost; resynchronizing from /proc",
						"overruns", s.overruns.Load(), "lost", s.lost.Load())
				}
				select {
				case resync <- struct{}{}:
				default:
				}
				continue
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("receive proc connector: %w", err)
			}
			eachMessage(buf[:n], h.message, func() { s.malformed.Add(1) })
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// handler turns received proc connector messages into events.
type handler struct {
	s        *Source
	bootWall time.Time
	seqs     seqTracker
	execs    execReader
	emit     func(*event.Event)
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
	if ev.Evt.Type == event.TypeExecve {
		if s.cfg.ReadExec && !h.execs.read(ev) {
			s.execIncomplete.Add(1)
		}
		if s.cfg.ContainerOf != nil {
			if b := h.execs.cgroup(ev.Proc.PID); b != nil {
				ev.Container.ID = s.cfg.ContainerOf(b)
			}
		}
	}
	s.emitted.Add(1)
	h.emit(ev)
}

// recvDontWait reads one datagram without blocking.
func recvDontWait(rc syscall.RawConn, buf []byte) (int, error) {
	var n int
	var rerr error
	if err := rc.Control(func(fd uintptr) {
		// Raw, as the /proc reads (see execReader): it never blocks.
		r, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
			unix.MSG_DONTWAIT, 0, 0)
		n = int(r)
		if errno != 0 {
			rerr = errno
		}
	}); err != nil {
		return 0, err
	}
	return n, rerr
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

func send(conn *netlink.Conn, op uint32) error {
	_, err := conn.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.Done, PID: uint32(os.Getpid())},
		Data:   subscribeMsg(op),
	})
	return err
}

// setReadBuffer asks for n bytes with SO_RCVBUFFORCE, which root may use
// beyond net.core.rmem_max, and falls back to SO_RCVBUF. It returns what the
// kernel granted.
func setReadBuffer(conn *netlink.Conn, n int) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("syscall conn: %w", err)
	}
	var serr error
	got := 0
	cerr := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
		if serr != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}
		got, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if cerr != nil {
		return 0, fmt.Errorf("control: %w", cerr)
	}
	if serr != nil {
		return got, fmt.Errorf("setsockopt SO_RCVBUF: %w", serr)
	}
	return got, nil
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
