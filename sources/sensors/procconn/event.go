package procconn

import (
	"time"

	"github.com/ruled/ruled/sources/event"
)

// toEvent turns a decoded proc event into an ruled event. bootWall is the
// wall-clock time of CLOCK_MONOTONIC zero, used to convert timestamp_ns.
// It returns nil for what ruled does not emit: thread creation and thread
// exit (folded into the process), acks, and kinds without an event type.
func toEvent(p *procEvent, bootWall time.Time) *event.Event {
	var typ string
	pid, tid := int(p.TGID), int(p.PID)
	ppid := 0
	res := 0
	switch p.What {
	case WhatFork:
		if p.PID != p.TGID {
			return nil // a new thread, not a new process
		}
		typ = event.TypeFork
		ppid = int(p.ParentTGID)
	case WhatExec:
		// After exec the caller is the thread-group leader (de_thread), so
		// exec from any thread is the process's exec.
		typ = event.TypeExecve
		tid = pid
	case WhatExit:
		if p.PID != p.TGID {
			return nil // a thread ended; the process lives on
		}
		typ = event.TypeExit
		ppid = int(p.ParentTGID)
		res = exitRes(p.ExitCode)
	case WhatUID:
		if p.PID != p.TGID {
			// glibc changes ids on every thread (setxid broadcast): one
			// event per process is enough.
			return nil
		}
		typ = event.TypeSetuid
	case WhatComm:
		if p.PID != p.TGID {
			return nil // thread names (pthread_setname_np) are not the process name
		}
		typ = event.TypeComm
	default:
		return nil
	}
	ev := event.New()
	ev.Evt.Type = typ
	ev.Evt.Source = event.SourceProcconn
	ev.Evt.Success = true
	ev.Evt.Res = res
	ev.Evt.Time = bootWall.Add(time.Duration(p.TimestampNS))
	ev.Proc.PID = pid
	ev.Proc.TID = tid
	ev.Proc.PPID = ppid
	switch p.What {
	case WhatUID:
		ev.Proc.UID = int(p.ID1)
		ev.Proc.EUID = int(p.ID2)
	case WhatComm:
		ev.Proc.Name = p.CommString()
	}
	return ev
}

// exitRes maps a wait status to evt.res: the exit code for a normal exit,
// the negated signal number for a process killed by a signal.
func exitRes(status uint32) int {
	if sig := status & 0x7f; sig != 0 {
		return -int(sig)
	}
	return int(status>>8) & 0xff
}
