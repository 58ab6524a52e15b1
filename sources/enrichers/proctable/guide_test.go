package proctable

import (
	"io/fs"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/sources/event"
)

// TestReadGuide: with a guide, an exec reads the standard descriptors,
// the environment and the capabilities only when the guide asks for them
// for the clues it knows (the exec's comm and container id), and a dup's
// descriptor only when the guide asks for it for the process.
func TestReadGuide(t *testing.T) {
	f := base()
	tb := newTable(t, f, &clock{t: time.Unix(1000, 0)}, 0)
	tb.SetContainerResolver(func(int) string { return event.HostID })
	var clues []Clue
	tb.SetReadGuide(func(c Clue) procfs.Fields {
		clues = append(clues, c)
		if c.Name == "" || c.Name == "sh" && c.ContainerID == event.HostID {
			return procfs.FieldStdio | procfs.FieldEnv | procfs.FieldCaps
		}
		return 0
	})
	exec := func(pid int, comm string, name bool) Process {
		f.add(fp{pid: pid, ppid: 200, comm: comm, exe: "/bin/" + comm, args: []string{comm}, stdin: "socket:[77]"})
		f.fs[strconv.Itoa(pid)+"/environ"] = &fstest.MapFile{Data: []byte("A=1\x00")}
		f.fs[strconv.Itoa(pid)+"/status"].Data = append(f.fs[strconv.Itoa(pid)+"/status"].Data, "CapEff:\t0000000000000001\n"...)
		tb.Observe(pcEv(event.TypeFork, pid, 200))
		ev := pcEv(event.TypeExecve, pid, 0)
		if name {
			ev.Proc.Name = comm
		}
		tb.Observe(ev)
		p, _ := tb.Get(pid)
		return p
	}
	if p := exec(300, "sh", true); p.Stdio[0].Type != event.StdioSocket || len(p.Env) == 0 || len(p.CapEff) == 0 {
		t.Errorf("guided sh: stdin %+v env %v caps %v; want all read", p.Stdio[0], p.Env, p.CapEff)
	}
	if p := exec(301, "true", true); p.Stdio[0].Type != "" || len(p.Env) != 0 || len(p.CapEff) != 0 || p.Exe != "/bin/true" {
		t.Errorf("guided true: stdin %+v env %v caps %v exe %q; want none of the three, the rest read", p.Stdio[0], p.Env, p.CapEff, p.Exe)
	}
	if last := clues[len(clues)-1]; last != (Clue{Name: "true", ContainerID: event.HostID}) {
		t.Errorf("clue of the exec: %+v", last)
	}
	// With audit bringing the executable, name and argv, the proc
	// connector's exec has no comm: the lean read's stat brings it, then
	// the guide decides.
	tb.SetAuditExecs(func() bool { return true })
	rec := pcEv(event.TypeExecve, 250, 200)
	rec.Evt.Source, rec.Proc.Exe, rec.Proc.Args = event.SourceAudit, "/usr/bin/id", []string{"id"}
	tb.Observe(rec)
	if p := exec(302, "sh", false); p.Stdio[0].Type != event.StdioSocket || len(p.Env) == 0 || len(p.CapEff) == 0 {
		t.Errorf("lean sh: stdin %+v env %v caps %v; want all read", p.Stdio[0], p.Env, p.CapEff)
	}
	if last := clues[len(clues)-1]; last.Name != "sh" || last.ContainerID != event.HostID {
		t.Errorf("clue of the lean exec: %+v", last)
	}
	if p := exec(303, "true", false); p.Stdio[0].Type != "" || len(p.Env) != 0 || len(p.CapEff) != 0 || p.Name != "true" {
		t.Errorf("lean true: stdin %+v env %v caps %v name %q; want none of the three", p.Stdio[0], p.Env, p.CapEff, p.Name)
	}
	dup := func(pid int) *event.Event {
		f.fs[strconv.Itoa(pid)+"/fd/1"] = &fstest.MapFile{Data: []byte("/tmp/out"), Mode: fs.ModeSymlink}
		d := pcEv(event.TypeDup, pid, 0)
		d.Evt.Source = event.SourceAudit
		d.Arg.FD = 1
		tb.Observe(d)
		return d
	}
	if d := dup(301); d.FD.Type != "" {
		t.Errorf("dup of true: fd %+v; want not read", d.FD)
	}
	if last := clues[len(clues)-1]; !last.Dup || last.Name != "true" || last.Exe != "/bin/true" {
		t.Errorf("clue of the dup: %+v", last)
	}
	if d := dup(300); d.FD.Name != "/tmp/out" {
		t.Errorf("dup of sh: fd %+v; want read", d.FD)
	}
	if p, _ := tb.Get(300); p.Stdio[1].Name != "/tmp/out" {
		t.Errorf("sh's stdout after its dup: %+v", p.Stdio[1])
	}

	// A process its exec found gone from /proc: its dup is not read.
	tb.Observe(pcEv(event.TypeFork, 304, 200))
	ev := pcEv(event.TypeExecve, 304, 0)
	ev.Proc.Name = "sh"
	tb.Observe(ev)
	if p, _ := tb.Get(304); !p.Partial {
		t.Fatalf("exec of a pid not in /proc: %+v; want partial", p)
	}
	f.fs["304/fd/1"] = &fstest.MapFile{Data: []byte("/tmp/out"), Mode: fs.ModeSymlink}
	if d := dup(304); d.FD.Type != "" {
		t.Errorf("dup of a process gone at its exec: fd %+v; want not read", d.FD)
	}
}
