package procconn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

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
	bootWall := bootTime()

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

	var seqs seqTracker
	var lastLossLog time.Time
	for {
		msgs, err := conn.Receive()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
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
			return fmt.Errorf("receive proc connector: %w", err)
		}
		for i := range msgs {
			s.received.Add(1)
			p, err := parseProcEvent(msgs[i].Data)
			if err != nil {
				s.malformed.Add(1)
				continue
			}
			s.byType[slotOf(p.What)].Add(1)
			if p.What == WhatNone {
				continue // subscription ack
			}
			if n := seqs.observe(p.CPU, p.Seq); n > 0 {
				s.lost.Add(n)
			}
			ev := toEvent(&p, bootWall)
			if ev == nil {
				if p.PID != p.TGID {
					s.threads.Add(1)
				}
				continue
			}
			if s.cfg.ContainerOf != nil && ev.Evt.Type == event.TypeExecve {
				ev.Container.ID = s.cfg.ContainerOf(ev.Proc.PID)
			}
			s.emitted.Add(1)
			emit(ev)
		}
	}
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
