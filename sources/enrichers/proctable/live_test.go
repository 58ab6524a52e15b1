package proctable

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/ruled/ruled/sources/event"
)

// TestConcurrentReaders runs Observe/Enrich on one goroutine while others
// list and look up processes (ruled ps, the plugin): run with -race.
func TestConcurrentReaders(t *testing.T) {
	f := base()
	tb := New(Config{Proc: f.fs})
	if err := tb.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, p := range tb.Processes() {
					_ = tb.Ancestors(p.PID)
				}
				_, _ = tb.Get(200)
				_ = tb.Stats()
			}
		})
	}
	for i := range 2000 {
		pid := 1000 + i
		tb.Observe(pcEv(event.TypeFork, pid, 200))
		ev := pcEv(event.TypeExit, pid, 200)
		tb.Observe(ev)
		tb.Enrich(ev)
		if ev.Proc.PName != "bash" {
			t.Fatalf("pname %q", ev.Proc.PName)
		}
	}
	close(stop)
	wg.Wait()
}

// BenchmarkObserveExecLive is the cost of an exec on the event path: one
// /proc read of a live process (this one) and the table update.
func BenchmarkObserveExecLive(b *testing.B) {
	tb := New(Config{})
	ev := pcEv(event.TypeExecve, os.Getpid(), 0)
	b.ReportAllocs()
	for b.Loop() {
		tb.Observe(ev)
	}
}

// marker is a start time no stat gives: a test sets it on an entry and
// finds it kept when no stat was read.
const marker = 12345

// seededSelf is a table seeded from the live /proc, this process and its
// entry as the full read gave it.
func seededSelf(t *testing.T) (*Table, int, Process) {
	t.Helper()
	tb := New(Config{})
	if err := tb.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	full, ok := tb.Get(pid)
	if !ok {
		t.Fatal("this process is not in the seeded table")
	}
	return tb, pid, full
}

// setStart sets the start time of pid's entry.
func setStart(tb *Table, pid int, start uint64) {
	tb.mu.Lock()
	tb.procs[pid].StartTime = start
	tb.mu.Unlock()
}

// TestLeanExecWithoutStat reads a proc connector exec of a running process
// whose fork the table saw (this one, seeded) while audit reports every
// exec: no stat read (the start time stays the table's), the session from
// getsid(2), the name from the event or else comm, and descriptors,
// namespaces and capabilities as a full read gives them.
func TestLeanExecWithoutStat(t *testing.T) {
	tb, pid, full := seededSelf(t)
	tb.SetAuditExecs(func() bool { return true })
	warm := pcEv(event.TypeExecve, 1, 0)
	warm.Evt.Source, warm.Proc.Exe = event.SourceAudit, "/sbin/init"
	tb.Observe(warm) // audit's exec records are coming

	setStart(tb, pid, marker)
	ev := pcEv(event.TypeExecve, pid, 0)
	ev.Proc.Name = "renamed"
	tb.Observe(ev)
	p, _ := tb.Get(pid)
	if p.StartTime != marker {
		t.Errorf("start time %d: stat was read", p.StartTime)
	}
	if p.Name != "renamed" || p.PPID != full.PPID || p.SID != full.SID || p.TTY != full.TTY || p.Partial {
		t.Errorf("lean read: name %q ppid %d sid %d tty %v partial %v; want renamed %d %d %v false",
			p.Name, p.PPID, p.SID, p.TTY, p.Partial, full.PPID, full.SID, full.TTY)
	}
	if p.NS != full.NS || p.Stdio != full.Stdio || !slices.Equal(p.CapEff, full.CapEff) {
		t.Errorf("lean read: ns %+v stdio %+v caps %v; full read: %+v %+v %v", p.NS, p.Stdio, p.CapEff, full.NS, full.Stdio, full.CapEff)
	}

	// Without the comm in the event, comm is read, still no stat.
	tb.Observe(pcEv(event.TypeExecve, pid, 0))
	if p, _ := tb.Get(pid); p.StartTime != marker || p.Name != full.Name || p.SID != full.SID {
		t.Errorf("exec without comm: start %d name %q sid %d; want the table's start, comm's name %q, sid %d",
			p.StartTime, p.Name, p.SID, full.Name, full.SID)
	}

	// A fork the table did not see: stat is read (the parent).
	tb.mu.Lock()
	tb.procs[pid].PPID = 0
	tb.mu.Unlock()
	tb.Observe(pcEv(event.TypeExecve, pid, 0))
	if p, _ := tb.Get(pid); p.StartTime == marker || p.PPID != full.PPID {
		t.Errorf("exec of a process of unknown parent: start %d ppid %d; want stat's, %d", p.StartTime, p.PPID, full.PPID)
	}
}

// TestExecStatFromReceive: with the proc connector alone, an exec whose
// event carries what its receive thread read from stat (name, session,
// terminal) and whose fork the table saw is read without stat: the start
// time stays the table's, the terminal is the event's, the rest as a full
// read gives it. Without the session in the event, stat is read.
func TestExecStatFromReceive(t *testing.T) {
	tb, pid, full := seededSelf(t)
	setStart(tb, pid, marker)
	ev := pcEv(event.TypeExecve, pid, 0)
	ev.Proc.Name, ev.Proc.SID, ev.Proc.TTY = "renamed", full.SID, !full.TTY
	tb.Observe(ev)
	p, _ := tb.Get(pid)
	if p.StartTime != marker || p.Name != "renamed" || p.TTY == full.TTY || p.SID != full.SID || p.PPID != full.PPID {
		t.Errorf("stat at receive: start %d name %q tty %v sid %d ppid %d; want %d renamed %v %d %d",
			p.StartTime, p.Name, p.TTY, p.SID, p.PPID, marker, !full.TTY, full.SID, full.PPID)
	}
	if p.UID != full.UID || p.EUID != full.EUID || p.NS != full.NS || p.Cwd != full.Cwd || p.Exe != full.Exe {
		t.Errorf("stat at receive: uid %d euid %d ns %+v cwd %q exe %q; full read %d %d %+v %q %q",
			p.UID, p.EUID, p.NS, p.Cwd, p.Exe, full.UID, full.EUID, full.NS, full.Cwd, full.Exe)
	}

	ev = pcEv(event.TypeExecve, pid, 0)
	ev.Proc.Name = "renamed"
	tb.Observe(ev)
	if p, _ := tb.Get(pid); p.StartTime == marker || p.TTY != full.TTY {
		t.Errorf("no session in the event: start %d tty %v; want stat's, tty %v", p.StartTime, p.TTY, full.TTY)
	}
}

// TestAuditExecWithoutStat: audit's record of an exec, observed first,
// names the parent, the name and the terminal; for a running process the
// table knows, no stat is read (the start time stays the table's, the
// session comes from getsid(2)). For a process it does not know, stat is
// read.
func TestAuditExecWithoutStat(t *testing.T) {
	tb, pid, full := seededSelf(t)
	setStart(tb, pid, marker)
	audit := func() *event.Event {
		ev := pcEv(event.TypeExecve, pid, full.PPID)
		ev.Evt.Source = event.SourceAudit
		ev.Proc.Name, ev.Proc.Exe, ev.Proc.Args, ev.Proc.TTY = "renamed", "/bin/renamed", []string{"renamed"}, !full.TTY
		return ev
	}
	tb.Observe(audit())
	p, _ := tb.Get(pid)
	if p.StartTime != marker || p.Name != "renamed" || p.TTY == full.TTY || p.SID != full.SID || p.PPID != full.PPID || p.NS != full.NS {
		t.Errorf("audit exec: start %d name %q tty %v sid %d ppid %d ns %+v; want %d renamed %v %d %d %+v",
			p.StartTime, p.Name, p.TTY, p.SID, p.PPID, p.NS, marker, !full.TTY, full.SID, full.PPID, full.NS)
	}
	tb.mu.Lock()
	delete(tb.procs, pid)
	tb.mu.Unlock()
	tb.Observe(audit())
	if p, _ := tb.Get(pid); p.StartTime != full.StartTime || p.SID != full.SID {
		t.Errorf("audit exec of an unknown process: start %d sid %d; want stat's %d %d", p.StartTime, p.SID, full.StartTime, full.SID)
	}
}
