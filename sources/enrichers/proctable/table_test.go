package proctable

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/sources/event"
)

// fakeProc builds a /proc with the given processes.
type fakeProc struct {
	fs fstest.MapFS
}

type fp struct {
	pid, ppid int
	comm, exe string
	args      []string
	uid       int
	mnt       int
	stdin     string
	start     uint64
	sid       int // 0: its own session
	pgid      int // 0: its own group
	pidns     int // 0: the host's
	vpid      int // pid in pidns
}

func newFakeProc(procs ...fp) *fakeProc {
	f := &fakeProc{fs: fstest.MapFS{
		"self": {Data: []byte("1"), Mode: fs.ModeSymlink},
	}}
	for _, p := range procs {
		f.add(p)
	}
	return f
}

func (f *fakeProc) add(p fp) {
	d := fmt.Sprint(p.pid) + "/"
	if p.mnt == 0 {
		p.mnt = 4026531832
	}
	if p.sid == 0 {
		p.sid = p.pid
	}
	if p.pgid == 0 {
		p.pgid = p.pid
	}
	nspid := fmt.Sprint(p.pid)
	if p.pidns == 0 {
		p.pidns = 4026531836
	} else {
		nspid += fmt.Sprintf("\t%d", p.vpid)
	}
	f.fs[d+"stat"] = &fstest.MapFile{Data: fmt.Appendf(nil,
		"%d (%s) S %d %d %d 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", p.pid, p.comm, p.ppid, p.pgid, p.sid, p.start)}
	f.fs[d+"status"] = &fstest.MapFile{Data: fmt.Appendf(nil,
		"Name:\t%s\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\nUid:\t%d\t%d\t%d\t%d\nGid:\t0\t0\t0\t0\nNSpid:\t%s\n", p.comm, p.pid, p.pid, p.ppid, p.uid, p.uid, p.uid, p.uid, nspid)}
	f.fs[d+"cmdline"] = &fstest.MapFile{Data: []byte(strings.Join(p.args, "\x00") + "\x00")}
	f.fs[d+"exe"] = &fstest.MapFile{Data: []byte(p.exe), Mode: fs.ModeSymlink}
	f.fs[d+"cwd"] = &fstest.MapFile{Data: []byte("/"), Mode: fs.ModeSymlink}
	f.fs[d+"ns/mnt"] = &fstest.MapFile{Data: fmt.Appendf(nil, "mnt:[%d]", p.mnt), Mode: fs.ModeSymlink}
	f.fs[d+"ns/net"] = &fstest.MapFile{Data: []byte("net:[4026531833]"), Mode: fs.ModeSymlink}
	f.fs[d+"ns/pid"] = &fstest.MapFile{Data: fmt.Appendf(nil, "pid:[%d]", p.pidns), Mode: fs.ModeSymlink}
	if p.stdin != "" {
		f.fs[d+"fd/0"] = &fstest.MapFile{Data: []byte(p.stdin), Mode: fs.ModeSymlink}
	}
}

func (f *fakeProc) remove(pid int) {
	pre := fmt.Sprint(pid) + "/"
	for k := range f.fs {
		if strings.HasPrefix(k, pre) {
			delete(f.fs, k)
		}
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTable(t *testing.T, f *fakeProc, c *clock, max int) *Table {
	t.Helper()
	passwd := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := New(Config{Proc: f.fs, Passwd: passwd, Max: max, Now: c.now})
	if err := tb.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tb
}

// base is a small host: init -> sshd -> bash.
func base() *fakeProc {
	return newFakeProc(
		fp{pid: 1, comm: "systemd", exe: "/usr/lib/systemd/systemd", args: []string{"/sbin/init"}},
		fp{pid: 100, ppid: 1, comm: "sshd", exe: "/usr/sbin/sshd", args: []string{"sshd:", "alice"}},
		fp{pid: 200, ppid: 100, comm: "bash", exe: "/usr/bin/bash", args: []string{"-bash"}, uid: 1000, stdin: "socket:[777]"},
	)
}

func pcEv(typ string, pid, ppid int) *event.Event {
	ev := &event.Event{}
	ev.Evt.Type, ev.Evt.Source, ev.Evt.Success = typ, event.SourceProcconn, true
	ev.Proc.PID, ev.Proc.PPID = pid, ppid
	return ev
}

func enriched(tb *Table, typ string, pid int) event.Proc {
	ev := pcEv(typ, pid, 0)
	tb.Enrich(ev)
	return ev.Proc
}

func TestSeedAndEnrich(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	tb := newTable(t, base(), c, 0)
	var resolved []uint64
	tb.SetStdioResolver(func(pid, fd int, inode uint64, s *event.Stdio) {
		resolved = append(resolved, inode)
		s.RIP, s.RPort = "10.0.0.9", 4444
	})
	got := enriched(tb, event.TypeConnect, 200)
	if got.PPID != 100 || got.Name != "bash" || got.Exe != "/usr/bin/bash" || got.Cmdline != "-bash" {
		t.Errorf("process fields: %+v", got)
	}
	if got.PName != "sshd" || got.PExe != "/usr/sbin/sshd" || got.PCmdline != "sshd: alice" {
		t.Errorf("parent fields: %+v", got)
	}
	if want := []string{"sshd", "systemd"}; !reflect.DeepEqual(got.ANames, want) {
		t.Errorf("anames %v want %v", got.ANames, want)
	}
	if got.UID != 1000 || got.User != "alice" {
		t.Errorf("uid %d user %q", got.UID, got.User)
	}
	if got.Stdin.Type != "socket" || got.Stdin.RPort != 4444 || !reflect.DeepEqual(resolved, []uint64{777}) {
		t.Errorf("stdin %+v resolved %v", got.Stdin, resolved)
	}
	if got.Stdout.Type != "none" {
		t.Errorf("closed stdout: %+v", got.Stdout)
	}
}

func TestOrderings(t *testing.T) {
	tests := []struct {
		name string
		// run applies events to the table and the fake /proc.
		run       func(tb *Table, f *fakeProc, c *clock)
		pid       int
		wantName  string
		wantExe   string
		wantArgs  []string
		wantPPID  int
		wantA     []string
		wantKnown bool
	}{
		{
			name: "fork then exec",
			run: func(tb *Table, f *fakeProc, c *clock) {
				tb.Observe(pcEv(event.TypeFork, 300, 200))
				f.add(fp{pid: 300, ppid: 200, comm: "curl", exe: "/usr/bin/curl", args: []string{"curl", "x"}})
				tb.Observe(pcEv(event.TypeExecve, 300, 0))
			},
			pid: 300, wantName: "curl", wantExe: "/usr/bin/curl", wantArgs: []string{"curl", "x"}, wantPPID: 200,
			wantA: []string{"bash", "sshd", "systemd"}, wantKnown: true,
		},
		{
			name: "fork without exec inherits the parent image",
			run: func(tb *Table, f *fakeProc, c *clock) {
				tb.Observe(pcEv(event.TypeFork, 301, 200))
			},
			pid: 301, wantName: "bash", wantExe: "/usr/bin/bash", wantArgs: []string{"-bash"}, wantPPID: 200,
			wantA: []string{"bash", "sshd", "systemd"}, wantKnown: true,
		},
		{
			name: "exec before fork seen",
			run: func(tb *Table, f *fakeProc, c *clock) {
				f.add(fp{pid: 302, ppid: 200, comm: "id", exe: "/usr/bin/id", args: []string{"id"}})
				tb.Observe(pcEv(event.TypeExecve, 302, 0))
				tb.Observe(pcEv(event.TypeFork, 302, 200))
			},
			pid: 302, wantName: "id", wantExe: "/usr/bin/id", wantArgs: []string{"id"}, wantPPID: 200,
			wantA: []string{"bash", "sshd", "systemd"}, wantKnown: true,
		},
		{
			name: "exec of a process already gone, audit argv",
			run: func(tb *Table, f *fakeProc, c *clock) {
				tb.Observe(pcEv(event.TypeFork, 303, 200))
				tb.Observe(pcEv(event.TypeExecve, 303, 0)) // /proc has nothing
				au := pcEv(event.TypeExecve, 303, 200)
				au.Evt.Source = event.SourceAudit
				au.Proc.Exe, au.Proc.Name, au.Proc.Args, au.Proc.UID = "/bin/true", "true", []string{"true", "-x"}, 1000
				tb.Observe(au)
			},
			pid: 303, wantName: "true", wantExe: "/bin/true", wantArgs: []string{"true", "-x"}, wantPPID: 200,
			wantA: []string{"bash", "sshd", "systemd"}, wantKnown: true,
		},
		{
			name: "exec of a process already gone, no audit: name unknown, not the parent's",
			run: func(tb *Table, f *fakeProc, c *clock) {
				tb.Observe(pcEv(event.TypeFork, 304, 200))
				tb.Observe(pcEv(event.TypeExecve, 304, 0))
			},
			pid: 304, wantPPID: 200, wantA: []string{"bash", "sshd", "systemd"}, wantKnown: true,
		},
		{
			name: "exit before exec seen",
			run: func(tb *Table, f *fakeProc, c *clock) {
				tb.Observe(pcEv(event.TypeFork, 305, 200))
				tb.Observe(pcEv(event.TypeExit, 305, 200))
				tb.Observe(pcEv(event.TypeExecve, 305, 0))
			},
			pid: 305, wantPPID: 200, wantA: []string{"bash", "sshd", "systemd"}, wantKnown: true,
		},
		{
			name: "exit of an unknown process keeps its parent link",
			run: func(tb *Table, f *fakeProc, c *clock) {
				tb.Observe(pcEv(event.TypeExit, 306, 200))
			},
			pid: 306, wantPPID: 200, wantA: []string{"bash", "sshd", "systemd"}, wantKnown: true,
		},
		{
			name: "exited process evicted after linger",
			run: func(tb *Table, f *fakeProc, c *clock) {
				tb.Observe(pcEv(event.TypeFork, 307, 200))
				tb.Observe(pcEv(event.TypeExit, 307, 200))
				c.advance(DefaultLinger + 2*time.Second)
				tb.Observe(pcEv(event.TypeComm, 1, 0)) // any event sweeps
			},
			pid: 307, wantKnown: false,
		},
		{
			name: "reparent to init after the parent exits",
			run: func(tb *Table, f *fakeProc, c *clock) {
				tb.Observe(pcEv(event.TypeFork, 308, 200))
				f.add(fp{pid: 308, ppid: 200, comm: "sleep", exe: "/usr/bin/sleep", args: []string{"sleep", "9"}})
				tb.Observe(pcEv(event.TypeExecve, 308, 0))
				tb.Observe(pcEv(event.TypeExit, 200, 100))
				f.remove(200)
				f.add(fp{pid: 308, ppid: 1, comm: "sleep", exe: "/usr/bin/sleep", args: []string{"sleep", "9"}})
				c.advance(2 * time.Second)
				tb.Observe(pcEv(event.TypeComm, 1, 0))
			},
			pid: 308, wantName: "sleep", wantExe: "/usr/bin/sleep", wantArgs: []string{"sleep", "9"}, wantPPID: 1,
			wantA: []string{"systemd"}, wantKnown: true,
		},
		{
			name: "comm change",
			run: func(tb *Table, f *fakeProc, c *clock) {
				ev := pcEv(event.TypeComm, 100, 0)
				ev.Proc.Name = "sshd-session"
				tb.Observe(ev)
			},
			pid: 100, wantName: "sshd-session", wantExe: "/usr/sbin/sshd", wantArgs: []string{"sshd:", "alice"}, wantPPID: 1,
			wantA: []string{"systemd"}, wantKnown: true,
		},
		{
			name: "unknown pid of another event is read from /proc",
			run: func(tb *Table, f *fakeProc, c *clock) {
				f.add(fp{pid: 400, ppid: 1, comm: "nginx", exe: "/usr/sbin/nginx", args: []string{"nginx"}})
				tb.Observe(pcEv(event.TypeConnect, 400, 0))
			},
			pid: 400, wantName: "nginx", wantExe: "/usr/sbin/nginx", wantArgs: []string{"nginx"}, wantPPID: 1,
			wantA: []string{"systemd"}, wantKnown: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1000, 0)}
			f := base()
			tb := newTable(t, f, c, 0)
			tt.run(tb, f, c)
			_, known := tb.Get(tt.pid)
			if known != tt.wantKnown {
				t.Fatalf("known = %v, want %v", known, tt.wantKnown)
			}
			if !known {
				return
			}
			got := enriched(tb, event.TypeConnect, tt.pid)
			if got.Name != tt.wantName || got.Exe != tt.wantExe || !reflect.DeepEqual(got.Args, tt.wantArgs) || got.PPID != tt.wantPPID {
				t.Errorf("got name=%q exe=%q args=%q ppid=%d\nwant name=%q exe=%q args=%q ppid=%d",
					got.Name, got.Exe, got.Args, got.PPID, tt.wantName, tt.wantExe, tt.wantArgs, tt.wantPPID)
			}
			if !reflect.DeepEqual(got.ANames, tt.wantA) {
				t.Errorf("anames %q want %q", got.ANames, tt.wantA)
			}
		})
	}
}

func TestInheritContainerAndNamespaces(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	f.add(fp{pid: 500, ppid: 1, comm: "java", exe: "/opt/java", args: []string{"java"}, mnt: 4026532999})
	calls := 0
	tb := New(Config{Proc: f.fs, Now: c.now})
	tb.SetContainerResolver(func(pid int) string {
		calls++
		if pid == 500 {
			return "abc123"
		}
		return event.HostID
	})
	if err := tb.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := calls
	tb.Observe(pcEv(event.TypeFork, 501, 500))
	tb.Observe(pcEv(event.TypeExecve, 501, 0)) // gone: short-lived
	ev := pcEv(event.TypeExecve, 501, 0)
	tb.Enrich(ev)
	if ev.Container.ID != "abc123" || ev.NS.Mnt != 4026532999 {
		t.Errorf("container %q mnt %d: not inherited", ev.Container.ID, ev.NS.Mnt)
	}
	if calls != before {
		t.Errorf("resolver called %d times for a process /proc no longer had", calls-before)
	}
	if ev.Proc.User != "root" {
		t.Errorf("container uid 0 user %q, want root", ev.Proc.User)
	}
}

func TestCap(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	tb := newTable(t, base(), c, 5) // 3 seeded
	tb.Observe(pcEv(event.TypeFork, 10, 1))
	tb.Observe(pcEv(event.TypeFork, 11, 1))
	tb.Observe(pcEv(event.TypeFork, 12, 1)) // over the cap
	if _, ok := tb.Get(12); ok {
		t.Error("process inserted beyond the cap")
	}
	if s := tb.Stats(); s.CapHits != 1 || s.Live != 5 {
		t.Errorf("stats %+v", s)
	}
	// An exited process makes room: eviction is forced when full.
	tb.Observe(pcEv(event.TypeExit, 10, 1))
	tb.Observe(pcEv(event.TypeFork, 13, 1))
	if _, ok := tb.Get(13); !ok {
		t.Error("no room made by evicting an exited process")
	}
}

func TestResyncMarksVanished(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	f.remove(200) // exit lost
	f.add(fp{pid: 600, ppid: 100, comm: "new", exe: "/bin/new", args: []string{"new"}})
	tb.Resync()
	if p, _ := tb.Get(200); p.Exited.IsZero() {
		t.Error("vanished process still running")
	}
	if _, ok := tb.Get(600); !ok {
		t.Error("new process not added")
	}
	if n := len(tb.Processes()); n != 3 {
		t.Errorf("%d running, want 3", n)
	}
}

func TestParsePasswd(t *testing.T) {
	got := parsePasswd(strings.NewReader("# c\nroot:x:0:0::/root:/bin/sh\nbad\ntoor:x:0:0::/:/bin/sh\nbin:x:2:2::/:\nx:x:y:1::/:\nold:x:3:3\n"))
	want := map[int]pwEntry{0: {"root", "/root", "/bin/sh"}, 2: {"bin", "/", ""}, 3: {Name: "old"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

func TestParseGroup(t *testing.T) {
	got := parseGroup(strings.NewReader("# c\nroot:x:0:\nwheel:x:10:a,b\nbad\ndup:x:10:\nx:x:y:\nnomembers:x:11\n"))
	want := map[int]string{0: "root", 10: "wheel", 11: "nomembers"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

func TestParseBtime(t *testing.T) {
	if n, ok := parseBtime([]byte("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n")); !ok || n != 1700000000 {
		t.Errorf("got %d %v", n, ok)
	}
	if _, ok := parseBtime([]byte("cpu 1\n")); ok {
		t.Error("btime found where there is none")
	}
}

// The fields derived from the table: the session leader's name, the login
// shell, the time since the process started, and the passwd and group
// entries of its ids.
func TestDerivedFields(t *testing.T) {
	f := newFakeProc(
		fp{pid: 1, comm: "systemd", exe: "/usr/lib/systemd/systemd"},
		fp{pid: 100, ppid: 1, comm: "sshd", exe: "/usr/sbin/sshd"},
		fp{pid: 200, ppid: 100, comm: "bash", exe: "/usr/bin/bash", uid: 1000},
		fp{pid: 300, ppid: 200, comm: "sh", exe: "/bin/sh", uid: 1000, sid: 200},
		fp{pid: 400, ppid: 300, comm: "cat", exe: "/bin/cat", uid: 1000, sid: 200, pgid: 300, start: 500},
		// A session whose leader (999) has exited.
		fp{pid: 500, ppid: 1, comm: "zsh", exe: "/bin/zsh", sid: 999},
		fp{pid: 501, ppid: 500, comm: "python3", exe: "/usr/bin/python3", sid: 999},
		// In a container: another mount namespace, another passwd file.
		fp{pid: 700, ppid: 1, comm: "nginx", exe: "/usr/sbin/nginx", uid: 1000, mnt: 4026532000, pidns: 4026532001, vpid: 1},
		fp{pid: 701, ppid: 700, comm: "nginx", exe: "/usr/sbin/nginx", uid: 1000, mnt: 4026532000, pidns: 4026532001, vpid: 7, pgid: 700},
		// Its group leader is outside its pid namespace (docker exec).
		fp{pid: 702, ppid: 1, comm: "sh", exe: "/bin/sh", mnt: 4026532000, pidns: 4026532001, vpid: 8, pgid: 100},
	)
	f.fs["stat"] = &fstest.MapFile{Data: []byte("cpu 1 2 3\nbtime 1000000000\n")}
	f.fs["400/loginuid"] = &fstest.MapFile{Data: []byte("1000")}
	dir := t.TempDir()
	passwd, group := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/zsh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(group, []byte("rootgrp:x:0:\nalice:x:1000:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	boot := time.Unix(1000000000, 0)
	c := &clock{t: boot.Add(time.Hour)}
	tb := New(Config{Proc: f.fs, Passwd: passwd, Group: group, Now: c.now})
	if err := tb.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	at := func(pid int, when time.Time) event.Proc {
		ev := pcEv(event.TypeOpen, pid, 0)
		ev.Evt.Time = when
		tb.Enrich(ev)
		return ev.Proc
	}

	// cat started 5 s after boot (500 ticks).
	got := at(400, boot.Add(7*time.Second))
	if got.SName != "bash" || got.LoginShellID != 200 || got.Duration != int(2*time.Second) {
		t.Errorf("sname %q loginshellid %d duration %d", got.SName, got.LoginShellID, got.Duration)
	}
	if got.HomeDir != "/home/alice" || got.Shell != "/bin/zsh" || got.LoginName != "alice" || got.Group != "rootgrp" {
		t.Errorf("homedir %q shell %q loginname %q group %q", got.HomeDir, got.Shell, got.LoginName, got.Group)
	}
	if got.PGID != 300 || got.VPGID != 300 {
		t.Errorf("host: pgid %d vpgid %d, want 300 300", got.PGID, got.VPGID)
	}
	if got := at(701, boot); got.PGID != 700 || got.VPGID != 1 || got.VPID != 7 {
		t.Errorf("container: pgid %d vpgid %d vpid %d, want 700 1 7", got.PGID, got.VPGID, got.VPID)
	}
	if got := at(702, boot); got.PGID != 100 || got.VPGID != 0 {
		t.Errorf("leader outside the namespace: pgid %d vpgid %d, want 100 0", got.PGID, got.VPGID)
	}
	got = at(501, boot.Add(time.Second))
	if got.SName != "zsh" || got.LoginShellID != 500 {
		t.Errorf("gone leader: sname %q loginshellid %d", got.SName, got.LoginShellID)
	}
	if got.Duration != 0 {
		t.Errorf("duration %d of a process without a start time, want 0 (unknown)", got.Duration)
	}
	if got := at(100, boot); got.LoginShellID != 0 || got.SName != "sshd" {
		t.Errorf("no shell: loginshellid %d sname %q", got.LoginShellID, got.SName)
	}
	// The host's passwd does not name a container's users.
	if got := at(700, boot); got.HomeDir != "" || got.Shell != "" || got.User != "" || got.Group != "root" {
		t.Errorf("container: homedir %q shell %q user %q group %q", got.HomeDir, got.Shell, got.User, got.Group)
	}

	// A fork starts a process; its exec does not.
	forked := boot.Add(time.Minute)
	fork := pcEv(event.TypeFork, 600, 400)
	fork.Evt.Time = forked
	tb.Observe(fork)
	if got := at(600, forked.Add(time.Second)); got.Duration != int(time.Second) {
		t.Errorf("after fork: duration %d", got.Duration)
	}
	f.add(fp{pid: 600, ppid: 400, comm: "ls", exe: "/bin/ls", uid: 1000, sid: 200, start: 6500})
	exec := pcEv(event.TypeExecve, 600, 400)
	exec.Evt.Time = forked.Add(2 * time.Second)
	tb.Observe(exec)
	if got := at(600, forked.Add(3*time.Second)); got.Duration != int(3*time.Second) || got.Name != "ls" {
		t.Errorf("after exec: duration %d name %q", got.Duration, got.Name)
	}
}

func BenchmarkEnrich(b *testing.B) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := New(Config{Proc: f.fs, Now: c.now})
	if err := tb.Seed(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	ev := new(event.Event)
	for b.Loop() {
		*ev = event.Event{}
		ev.Evt.Type, ev.Evt.Source = event.TypeConnect, event.SourceProcconn
		ev.Proc.PID = 200
		tb.Enrich(ev)
	}
}

// BenchmarkMemoryPerProcess reports the heap the table holds per tracked
// process (forked entries sharing their parent's strings, plus a distinct
// argv each as exec gives them).
func BenchmarkMemoryPerProcess(b *testing.B) {
	const n = 20000
	for b.Loop() {
		f := base()
		tb := New(Config{Proc: f.fs, Max: n + 10})
		if err := tb.Seed(context.Background()); err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			pid := 1000 + i
			tb.Observe(pcEv(event.TypeFork, pid, 200))
			au := pcEv(event.TypeExecve, pid, 200)
			au.Evt.Source = event.SourceAudit
			au.Proc.Exe, au.Proc.Name = "/usr/bin/worker", "worker"
			au.Proc.Args = []string{"/usr/bin/worker", "--id", fmt.Sprint(i)}
			tb.Observe(au)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/process")
		runtime.KeepAlive(tb)
	}
}

// The kernel caches a task's PROCTITLE at its first audited syscall, so
// after runc init (setns, audited) execs the user's program, audit records
// of that program still say "runc init". The table's argv from the exec wins.
func TestStaleProctitle(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	tb.Observe(pcEv(event.TypeFork, 300, 200))
	f.add(fp{pid: 300, ppid: 200, comm: "unshare", exe: "/bin/busybox", args: []string{"unshare", "-m", "true"}})
	tb.Observe(pcEv(event.TypeExecve, 300, 0))

	ev := &event.Event{}
	ev.Evt.Type, ev.Evt.Source, ev.Evt.Success = event.TypeMount, event.SourceAudit, true
	ev.Proc.PID, ev.Proc.Name = 300, "unshare"
	ev.Proc.Args, ev.Proc.Cmdline = []string{"runc", "init"}, "runc init"
	tb.Enrich(ev)
	if ev.Proc.Cmdline != "unshare -m true" || !reflect.DeepEqual(ev.Proc.Args, []string{"unshare", "-m", "true"}) {
		t.Errorf("mount event kept the stale title: %q %v", ev.Proc.Cmdline, ev.Proc.Args)
	}

	// An exec event's argv is its own (EXECVE records): kept.
	ex := &event.Event{}
	ex.Evt.Type, ex.Evt.Source, ex.Evt.Success = event.TypeExecve, event.SourceAudit, true
	ex.Proc.PID, ex.Proc.Args, ex.Proc.Cmdline = 300, []string{"sh", "-c", "id"}, "sh -c id"
	tb.Enrich(ex)
	if ex.Proc.Cmdline != "sh -c id" {
		t.Errorf("exec argv replaced: %q", ex.Proc.Cmdline)
	}

	// A process the table does not know keeps what audit said.
	un := &event.Event{}
	un.Evt.Type, un.Evt.Source = event.TypeMount, event.SourceAudit
	un.Proc.PID, un.Proc.Cmdline = 999, "mount -a"
	tb.Enrich(un)
	if un.Proc.Cmdline != "mount -a" {
		t.Errorf("unknown pid: %q", un.Proc.Cmdline)
	}
}

// A docker exec'd command forks from runc (a host process) and may be gone
// before /proc is read: the container id the proc connector source read at
// the exec wins over the one inherited from runc.
func TestExecContainerIDBeatsInherited(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	tb.SetContainerResolver(func(int) string { return event.HostID })
	tb.Observe(pcEv(event.TypeFork, 300, 200)) // runc's child, on the host
	ex := pcEv(event.TypeExecve, 300, 0)
	ex.Container.ID = "c0ffee"
	tb.Observe(ex) // pid 300 is not in the fake /proc: gone
	if got := enriched(tb, event.TypeOpen, 300); got.PID != 300 {
		t.Fatalf("pid 300 not in the table")
	}
	ev := pcEv(event.TypeOpen, 300, 0)
	tb.Enrich(ev)
	if ev.Container.ID != "c0ffee" {
		t.Errorf("container %q, want the id read at exec", ev.Container.ID)
	}
}

// A docker exec'd command that exited before anything read its cgroup (and
// whose exec the proc connector source could not attribute either) gets the
// container runc named on its command line, not runc's "host".
func TestGoneChildOfRuncGetsRuncsContainer(t *testing.T) {
	id := strings.Repeat("ab", 32)
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	f.add(fp{pid: 400, ppid: 1, comm: "runc", exe: "/usr/sbin/runc",
		args: []string{"runc", "--root", "/var/run/docker/runtime-runc/moby", "exec", "--process", "/tmp/runc-process1", "--detach", id}})
	tb := newTable(t, f, c, 0)
	tb.SetContainerResolver(func(int) string { return event.HostID })
	tb.Observe(pcEv(event.TypeFork, 401, 400))
	tb.Observe(pcEv(event.TypeExecve, 401, 0)) // 401 never in /proc: gone
	ev := pcEv(event.TypeRename, 401, 0)
	tb.Enrich(ev)
	if ev.Container.ID != id {
		t.Errorf("container %q, want runc's %q", ev.Container.ID, id)
	}
}

// A short command run by a reverse shell exits between the read of its fds
// and the lookup of its socket: it takes the ends its parent's read found
// for the same socket.
func TestStdioSocketAdoptedFromParent(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base() // bash 200 has stdin socket:[777]
	passwd := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0::/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := New(Config{Proc: f.fs, Passwd: passwd, Now: c.now})
	tb.SetStdioResolver(func(pid, fd int, inode uint64, s *event.Stdio) {
		if pid == 200 { // the child is gone by the time of its lookup
			s.L4Proto, s.RIP, s.RPort = "tcp", "10.0.0.9", 4444
		}
	})
	if err := tb.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	tb.Observe(pcEv(event.TypeFork, 300, 200))
	f.add(fp{pid: 300, ppid: 200, comm: "id", exe: "/usr/bin/id", args: []string{"/usr/bin/id"}, stdin: "socket:[777]"})
	tb.Observe(pcEv(event.TypeExecve, 300, 0))
	got := enriched(tb, event.TypeExecve, 300)
	if got.Stdin.L4Proto != "tcp" || got.Stdin.RPort != 4444 {
		t.Errorf("stdin %+v, want the parent's resolved socket", got.Stdin)
	}
}

// An audit exec carries the executable, argv, cwd and ids: the /proc read
// takes only what it lacks (stat, descriptors, namespaces), so the entry is
// complete although status, cmdline and the exe and cwd links are not read
// (this /proc has none of them). The pid inside a pid namespace other than
// ours still comes from status.
func TestAuditExecReadsWhatItLacks(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	lean := func(pid int, pidns string) {
		full := newFakeProc(fp{pid: pid, ppid: 200, comm: "nc", stdin: "socket:[777]"})
		for _, name := range []string{"stat", "fd/0", "ns/mnt", "ns/net"} {
			k := fmt.Sprint(pid) + "/" + name
			f.fs[k] = full.fs[k]
		}
		f.fs[fmt.Sprint(pid)+"/ns/pid"] = &fstest.MapFile{Data: []byte(pidns), Mode: fs.ModeSymlink}
	}
	auditExec := func(pid int) *event.Event {
		ev := pcEv(event.TypeExecve, pid, 200)
		ev.Evt.Source = event.SourceAudit
		ev.Proc.Exe, ev.Proc.Args, ev.Proc.Cwd = "/usr/bin/nc", []string{"nc", "-e", "/bin/sh"}, "/tmp"
		ev.Proc.UID, ev.Proc.EUID, ev.Proc.GID, ev.Proc.AUID = 1000, 1000, 1000, 1000
		return ev
	}

	lean(300, "pid:[4026531836]") // ours
	tb.Observe(auditExec(300))
	p, ok := tb.Get(300)
	if !ok || p.Partial {
		t.Fatalf("pid 300: in table %v, partial %v; want a complete entry", ok, p.Partial)
	}
	want := Process{PID: 300, PPID: 200, SID: 300, VPID: 300, PGID: 300, Name: "nc", Exe: "/usr/bin/nc",
		Args: []string{"nc", "-e", "/bin/sh"}, Cmdline: "nc -e /bin/sh", Cwd: "/tmp",
		UID: 1000, GID: 1000, EUID: 1000, AUID: 1000, User: "alice",
		Stdio:       [3]event.Stdio{{Type: event.StdioSocket, Name: "socket:[777]"}, {Type: event.StdioNone}, {Type: event.StdioNone}},
		StdioInodes: [3]uint64{777},
		NS:          event.NS{PID: 4026531836, Net: 4026531833, Mnt: 4026531832},
		execAt:      c.t,
		auditFirst:  true, // no proc connector report of it yet
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("pid 300:\ngot  %+v\nwant %+v", p, want)
	}

	lean(301, "pid:[4026532999]") // a container's: vpid from status
	f.fs["301/status"] = &fstest.MapFile{Data: []byte("Name:\tnc\nTgid:\t301\nPid:\t301\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nNSpid:\t301\t7\n")}
	tb.Observe(auditExec(301))
	if p, _ := tb.Get(301); p.VPID != 7 || p.UID != 1000 || p.Partial {
		t.Errorf("pid 301: vpid %d uid %d partial %v; want vpid 7 from status, the exec's uid 1000", p.VPID, p.UID, p.Partial)
	}
}

// The proc connector source reads each exec's container id as it receives
// it; observing that exec must not read the same cgroup file again.
func TestExecWithContainerIDResolvesOnce(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	calls := 0
	tb.SetContainerResolver(func(int) string { calls++; return event.HostID })
	f.add(fp{pid: 300, ppid: 200, comm: "id", exe: "/usr/bin/id", args: []string{"id"}})
	ex := pcEv(event.TypeExecve, 300, 200)
	ex.Container.ID = event.HostID
	tb.Observe(ex)
	if calls != 0 {
		t.Errorf("resolver called %d times for an exec that carries its container id", calls)
	}
	f.add(fp{pid: 301, ppid: 200, comm: "id", exe: "/usr/bin/id", args: []string{"id"}})
	tb.Observe(pcEv(event.TypeExecve, 301, 200))
	if p, _ := tb.Get(301); calls != 1 || p.ContainerID != event.HostID {
		t.Errorf("exec without a container id: resolver called %d times, container %q; want 1, host", calls, p.ContainerID)
	}
}

// With audit reporting every exec, a proc connector exec reads only stat,
// descriptors and namespaces; the entry has its parent's ids until audit's
// record brings the executable, argv and ids. Without an audit exec in the
// last auditExecWindow the read is full again.
func TestProcconnExecReliesOnAudit(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	covers := true
	tb.SetAuditExecs(func() bool { return covers })
	auditExec := func(pid int, exe string, args ...string) *event.Event {
		ev := pcEv(event.TypeExecve, pid, 200)
		ev.Evt.Source = event.SourceAudit
		ev.Proc.Exe, ev.Proc.Args, ev.Proc.Cwd = exe, args, "/tmp"
		ev.Proc.UID, ev.Proc.EUID, ev.Proc.AUID = 1000, 1000, 1000
		return ev
	}
	// Only what the lean read needs: no status, cmdline, exe or cwd.
	lean := func(pid int) {
		full := newFakeProc(fp{pid: pid, ppid: 200, comm: "nc", stdin: "socket:[777]"})
		for _, name := range []string{"stat", "fd/0", "ns/mnt", "ns/net", "ns/pid"} {
			k := fmt.Sprint(pid) + "/" + name
			f.fs[k] = full.fs[k]
		}
	}

	// No audit exec seen yet: a full read, which this /proc cannot give.
	lean(300)
	tb.Observe(pcEv(event.TypeFork, 300, 200))
	tb.Observe(pcEv(event.TypeExecve, 300, 0))
	if p, _ := tb.Get(300); !p.Partial {
		t.Fatalf("before any audit exec: entry %+v; want a full read (partial here)", p)
	}

	f.add(fp{pid: 250, ppid: 200, comm: "id", exe: "/usr/bin/id", args: []string{"id"}})
	tb.Observe(auditExec(250, "/usr/bin/id", "id"))

	lean(301)
	tb.Observe(pcEv(event.TypeFork, 301, 200))
	tb.Observe(pcEv(event.TypeExecve, 301, 0))
	p, _ := tb.Get(301)
	if p.Partial || p.Name != "nc" || p.Exe != "" || p.UID != 1000 || p.User != "alice" || p.Stdio[0].Type != event.StdioSocket {
		t.Fatalf("lean read: %+v; want comm and stdio from /proc, the parent's ids, no executable yet", p)
	}
	c.advance(3 * time.Millisecond)
	tb.Observe(auditExec(301, "/usr/bin/nc", "nc", "-e", "/bin/sh"))
	p, _ = tb.Get(301)
	if p.Exe != "/usr/bin/nc" || p.Cmdline != "nc -e /bin/sh" || p.Cwd != "/tmp" || p.Stdio[0].Type != event.StdioSocket {
		t.Errorf("after audit's record: %+v; want its executable and argv with the stdio read before", p)
	}

	// Audit's record first, then the proc connector's: audit's fields stay.
	lean(302)
	tb.Observe(pcEv(event.TypeFork, 302, 200))
	f.fs["302/status"] = &fstest.MapFile{Data: []byte("Name:\tnc\nTgid:\t302\nPid:\t302\nUid:\t1000\t1000\t1000\t1000\nGid:\t0\t0\t0\t0\nNSpid:\t302\n")}
	tb.Observe(auditExec(302, "/usr/bin/nc", "nc", "-l"))
	tb.Observe(pcEv(event.TypeExecve, 302, 0))
	if p, _ := tb.Get(302); p.Exe != "/usr/bin/nc" || p.Cmdline != "nc -l" {
		t.Errorf("audit first: %+v; want audit's executable and argv kept", p)
	}

	// Audit silent for longer than the window: full reads again.
	c.advance(auditExecWindow + time.Second)
	lean(303)
	tb.Observe(pcEv(event.TypeFork, 303, 200))
	tb.Observe(pcEv(event.TypeExecve, 303, 0))
	if p, _ := tb.Get(303); !p.Partial {
		t.Errorf("audit silent: entry %+v; want a full read (partial here)", p)
	}
	covers = false
	tb.Observe(auditExec(250, "/usr/bin/id", "id"))
	lean(304)
	tb.Observe(pcEv(event.TypeExecve, 304, 200))
	if p, _ := tb.Get(304); !p.Partial {
		t.Errorf("rules no longer cover execs: entry %+v; want a full read (partial here)", p)
	}
}

// A short process whose proc connector exec (which names no parent) came
// before its fork, and which was gone before anything read it, takes its
// container from the parent audit's exec names.
func TestGoneExecBeforeForkInheritsFromAuditsParent(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	tb.SetContainerResolver(func(int) string { return event.HostID })
	f.add(fp{pid: 250, ppid: 200, comm: "spawner", exe: "/usr/bin/spawner"})
	tb.Observe(pcEv(event.TypeFork, 250, 200))
	tb.Observe(pcEv(event.TypeExecve, 250, 0))
	tb.Observe(pcEv(event.TypeExecve, 300, 0)) // gone, no fork yet
	ev := pcEv(event.TypeExecve, 300, 250)
	ev.Evt.Source = event.SourceAudit
	ev.Proc.Exe, ev.Proc.Args = "/usr/bin/true", []string{"true"}
	tb.Observe(ev)
	if p, _ := tb.Get(300); p.ContainerID != event.HostID || p.PPID != 250 {
		t.Errorf("pid 300: container %q, ppid %d; want the parent's %q, 250", p.ContainerID, p.PPID, event.HostID)
	}
}

// A forked child of a container's shell that made one system call and
// exited (busybox sh runs cp in a fork, without exec) and whose audit record
// comes before the proc connector's report of its fork is where its parent
// is: the open it made is the container's.
func TestGoneForkReportedByAuditFirstTakesParentsContainer(t *testing.T) {
	id := strings.Repeat("cd", 32)
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	tb.SetContainerResolver(func(int) string { return event.HostID })
	f.add(fp{pid: 250, ppid: 1, comm: "sh", exe: "/bin/busybox", args: []string{"sh", "-c", "cp a b"}})
	tb.Observe(pcEv(event.TypeFork, 250, 1))
	ex := pcEv(event.TypeExecve, 250, 0)
	ex.Container.ID = id
	tb.Observe(ex)
	op := pcEv(event.TypeOpen, 300, 250) // 300 never in /proc: gone
	op.Evt.Source = event.SourceAudit
	op.Proc.Exe, op.Proc.Name = "/bin/busybox", "cp"
	tb.Observe(op)
	tb.Enrich(op)
	if op.Container.ID != id || op.Proc.Name != "cp" {
		t.Errorf("open of the gone child: container %q name %q; want its parent's %q, cp", op.Container.ID, op.Proc.Name, id)
	}
	tb.Observe(pcEv(event.TypeFork, 300, 250)) // the late fork report
	if p, _ := tb.Get(300); p.ContainerID != id {
		t.Errorf("after the late fork: container %q, want %q", p.ContainerID, id)
	}
}

// A process read from /proc whose cgroup could not be read (exited, not yet
// reaped) and whose fork was not seen yet takes its parent's container.
func TestExecWithoutCgroupTakesParentsContainer(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	tb.SetContainerResolver(func(pid int) string {
		if pid == 300 {
			return ""
		}
		return event.HostID
	})
	f.add(fp{pid: 250, ppid: 200, comm: "spawner", exe: "/usr/bin/spawner"})
	tb.Observe(pcEv(event.TypeFork, 250, 200))
	tb.Observe(pcEv(event.TypeExecve, 250, 0))
	f.add(fp{pid: 300, ppid: 250, comm: "true", exe: "/usr/bin/true", args: []string{"true"}})
	tb.Observe(pcEv(event.TypeExecve, 300, 0)) // before its fork
	if p, _ := tb.Get(300); p.ContainerID != event.HostID || p.Partial {
		t.Errorf("pid 300: container %q partial %v; want its parent's %q", p.ContainerID, p.Partial, event.HostID)
	}
}

// TestDupDescribesTheDescriptor: a dup2 onto stdin says what the descriptor
// now is (audit gives only numbers), with the socket's ends from the
// resolver, and the process keeps it as its stdin.
func TestDupDescribesTheDescriptor(t *testing.T) {
	f := base()
	tb := newTable(t, f, &clock{t: time.Unix(1000, 0)}, 0)
	tb.SetStdioResolver(func(pid, fd int, inode uint64, s *event.Stdio) {
		if pid == 200 && fd == 0 && inode == 888 {
			s.L4Proto, s.SIP, s.SPort, s.RIP, s.RPort = "tcp", "10.0.0.2", 40000, "10.0.0.9", 4444
		}
	})
	f.fs["200/fd/0"] = &fstest.MapFile{Data: []byte("socket:[888]"), Mode: fs.ModeSymlink}
	ev := pcEv(event.TypeDup, 200, 100)
	ev.Evt.Source = event.SourceAudit
	ev.Arg.FD = 0
	tb.Observe(ev)
	if ev.FD.Type != event.FDIPv4 || ev.FD.RIP != "10.0.0.9" || ev.FD.RPort != 4444 || ev.FD.Name != "10.0.0.2:40000->10.0.0.9:4444" {
		t.Errorf("fd = %+v", ev.FD)
	}
	if p, _ := tb.Get(200); p.Stdio[0].RIP != "10.0.0.9" {
		t.Errorf("process stdin = %+v", p.Stdio[0])
	}
	// A redirection to a file: fd.type file, the path as fd.name.
	f.fs["200/fd/1"] = &fstest.MapFile{Data: []byte("/tmp/out"), Mode: fs.ModeSymlink}
	ev = pcEv(event.TypeDup, 200, 100)
	ev.Arg.FD = 1
	tb.Observe(ev)
	if ev.FD.Type != event.FDFile || ev.FD.Name != "/tmp/out" {
		t.Errorf("fd = %+v", ev.FD)
	}
}

// TestDupBeforeExecTakesTheExecsRead: with audit reporting every exec, a
// dup record that comes after the proc connector's exec of its process but
// before audit's record of that exec happened before the exec: the exec's
// read of the descriptor describes it, even when the process is gone by
// then. After audit's record (or past twinWait) a dup reads /proc again.
func TestDupBeforeExecTakesTheExecsRead(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	tb.SetAuditExecs(func() bool { return true })
	tb.SetStdioResolver(func(pid, fd int, inode uint64, s *event.Stdio) {
		if inode == 777 {
			s.L4Proto, s.SIP, s.SPort, s.RIP, s.RPort = "tcp", "10.0.0.2", 40000, "10.0.0.9", 4444
		}
	})
	audit := func(typ string, pid int) *event.Event {
		ev := pcEv(typ, pid, 200)
		ev.Evt.Source = event.SourceAudit
		return ev
	}
	dup := func(pid, fd int) *event.Event {
		ev := audit(event.TypeDup, pid)
		ev.Arg.FD = fd
		tb.Observe(ev)
		return ev
	}
	f.add(fp{pid: 250, ppid: 200, comm: "id", exe: "/usr/bin/id", args: []string{"id"}})
	warm := audit(event.TypeExecve, 250)
	warm.Proc.Exe, warm.Proc.Args = "/usr/bin/id", []string{"id"}
	tb.Observe(warm) // audit's exec records are coming

	f.add(fp{pid: 300, ppid: 200, comm: "sh", stdin: "socket:[777]"})
	tb.Observe(pcEv(event.TypeFork, 300, 200))
	tb.Observe(pcEv(event.TypeExecve, 300, 0))
	f.remove(300) // gone before audit's records are observed
	c.advance(2 * time.Millisecond)
	if ev := dup(300, 0); ev.FD.Type != event.FDIPv4 || ev.FD.Name != "10.0.0.2:40000->10.0.0.9:4444" {
		t.Errorf("dup before the exec's audit record: fd = %+v; want the socket the exec read", ev.FD)
	}
	exec := audit(event.TypeExecve, 300)
	exec.Proc.Exe, exec.Proc.Args = "/bin/sh", []string{"sh"}
	tb.Observe(exec)
	if ev := dup(300, 0); ev.FD.Type != "" {
		t.Errorf("dup after the exec's audit record, process gone: fd = %+v; want nothing (a /proc read)", ev.FD)
	}

	// Audit's record of the exec never observed: past twinWait, /proc.
	f.add(fp{pid: 301, ppid: 200, comm: "sh", stdin: "socket:[777]"})
	tb.Observe(pcEv(event.TypeFork, 301, 200))
	tb.Observe(pcEv(event.TypeExecve, 301, 0))
	f.fs["301/fd/0"] = &fstest.MapFile{Data: []byte("/tmp/in"), Mode: fs.ModeSymlink}
	c.advance(twinWait)
	if ev := dup(301, 0); ev.FD.Type != event.FDFile || ev.FD.Name != "/tmp/in" {
		t.Errorf("dup past twinWait: fd = %+v; want the descriptor read now", ev.FD)
	}
	if p, _ := tb.Get(301); p.Stdio[0].Name != "/tmp/in" {
		t.Errorf("stdin after the dup: %+v", p.Stdio[0])
	}
}

// TestFieldUseSkipsUnreadParts: with a rule set that reads neither the
// environment, the capabilities nor ns.net, an exec reads none of them;
// the pid and mount namespaces are read all the same. Without a field
// use (nil) or once a rule reads them, they are read.
func TestFieldUseSkipsUnreadParts(t *testing.T) {
	f := base()
	tb := newTable(t, f, &clock{t: time.Unix(1000, 0)}, 0)
	exec := func(pid int) Process {
		f.add(fp{pid: pid, ppid: 200, comm: "sh", exe: "/bin/sh", args: []string{"sh"}})
		d := fmt.Sprint(pid) + "/"
		f.fs[d+"environ"] = &fstest.MapFile{Data: []byte("A=1\x00")}
		f.fs[d+"status"].Data = append(f.fs[d+"status"].Data, "CapEff:\t0000000000000001\n"...)
		tb.Observe(pcEv(event.TypeExecve, pid, 200))
		p, _ := tb.Get(pid)
		return p
	}
	read := func(p Process) (env, caps, net, pidMnt bool) {
		return len(p.Env) > 0, len(p.CapEff) > 0, p.NS.Net != 0, p.NS.PID != 0 && p.NS.Mnt != 0
	}
	if env, caps, net, pm := read(exec(300)); !env || !caps || !net || !pm {
		t.Errorf("no field use: env %v caps %v net %v pid+mnt %v; want all read", env, caps, net, pm)
	}
	used := map[string]bool{}
	tb.SetFieldUse(func(f string) bool { return used[f] })
	if env, caps, net, pm := read(exec(301)); env || caps || net || !pm {
		t.Errorf("nothing used: env %v caps %v net %v pid+mnt %v; want only pid+mnt", env, caps, net, pm)
	}
	used["proc.env"], used["proc.cap_inheritable"], used["ns.net"] = true, true, true
	if env, caps, net, pm := read(exec(302)); !env || !caps || !net || !pm {
		t.Errorf("all used: env %v caps %v net %v pid+mnt %v; want all read", env, caps, net, pm)
	}
}

// TestExecEventKeepsItsStdio: an exec event carries the descriptors its
// process had at the exec; a dup2 the new program makes afterwards (busybox
// nc -e moves its socket onto 0 before exec'ing the shell), observed before
// the exec merge releases the exec, does not show in it. And a second exec
// of the process within the second does not take the first one's
// executable and argv from audit's record of the first.
func TestExecEventKeepsItsStdio(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	tb.SetAuditExecs(func() bool { return true })
	audit := func(typ string, pid int, exe string) *event.Event {
		ev := pcEv(typ, pid, 200)
		ev.Evt.Source = event.SourceAudit
		if exe != "" {
			ev.Proc.Exe, ev.Proc.Args = exe, []string{exe}
		}
		return ev
	}
	tb.Observe(audit(event.TypeExecve, 250, "/usr/bin/id")) // audit's exec records are coming

	f.add(fp{pid: 300, ppid: 200, comm: "nc", stdin: "pipe:[5]"})
	tb.Observe(pcEv(event.TypeFork, 300, 200))
	pc := pcEv(event.TypeExecve, 300, 0)
	pc.Proc.Name = "nc"
	tb.Observe(pc)
	nc := audit(event.TypeExecve, 300, "/bin/nc")
	tb.Observe(nc)
	f.fs["300/fd/0"] = &fstest.MapFile{Data: []byte("socket:[9]"), Mode: fs.ModeSymlink}
	d := audit(event.TypeDup, 300, "")
	d.Arg.FD = 0
	tb.Observe(d)
	tb.Enrich(nc) // released now
	if nc.Proc.Stdin.Type != event.StdioPipe {
		t.Errorf("exec of nc released after its dup2: stdin %+v; want the pipe it had", nc.Proc.Stdin)
	}

	c.advance(10 * time.Millisecond)
	sh := pcEv(event.TypeExecve, 300, 0)
	sh.Proc.Name = "sh"
	tb.Observe(sh)
	if p, _ := tb.Get(300); p.Exe != "" || p.Cmdline != "" || p.Name != "sh" {
		t.Errorf("second exec before its audit record: exe %q cmdline %q name %q; want none of nc's", p.Exe, p.Cmdline, p.Name)
	}
	tb.Observe(audit(event.TypeExecve, 300, "/bin/sh"))
	if p, _ := tb.Get(300); p.Exe != "/bin/sh" || p.Stdio[0].Type != event.StdioSocket {
		t.Errorf("after its audit record: exe %q stdin %+v; want /bin/sh on the socket", p.Exe, p.Stdio[0])
	}
}

// TestOneReadPerExec: with both sources, whichever report of an exec comes
// first reads /proc and the other takes that read: audit's record first,
// then the proc connector's report (the process gone by then) keeps the
// entry audit's observation read. A second exec of the process whose
// record comes before its report is read anew, not served the first
// exec's read.
func TestOneReadPerExec(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	tb := newTable(t, f, c, 0)
	tb.SetAuditExecs(func() bool { return true })
	audit := func(pid int, exe string) *event.Event {
		ev := pcEv(event.TypeExecve, pid, 200)
		ev.Evt.Source = event.SourceAudit
		ev.Proc.Exe, ev.Proc.Args, ev.Proc.Name = exe, []string{exe}, "x"
		return ev
	}
	pc := func(pid int) *event.Event {
		ev := pcEv(event.TypeExecve, pid, 0)
		ev.Proc.Name = "x"
		return ev
	}
	tb.Observe(audit(250, "/usr/bin/id")) // audit's exec records are coming

	f.add(fp{pid: 300, ppid: 200, comm: "x", stdin: "pipe:[5]"})
	f.fs["300/environ"] = &fstest.MapFile{Data: []byte("A=1\x00")}
	tb.Observe(pcEv(event.TypeFork, 300, 200))
	tb.Observe(audit(300, "/bin/a"))
	f.remove(300)
	tb.Observe(pc(300))
	p, _ := tb.Get(300)
	if p.Partial || p.Exe != "/bin/a" || p.Stdio[0].Type != event.StdioPipe || len(p.Env) != 1 {
		t.Fatalf("report after audit's record, process gone: %+v; want audit's read kept", p)
	}

	// Second exec: report and record of the first, then the record of
	// the second before its report.
	f.add(fp{pid: 301, ppid: 200, comm: "x", stdin: "pipe:[5]"})
	f.fs["301/environ"] = &fstest.MapFile{Data: []byte("A=1\x00")}
	tb.Observe(pcEv(event.TypeFork, 301, 200))
	tb.Observe(pc(301))
	tb.Observe(audit(301, "/bin/a"))
	f.fs["301/environ"] = &fstest.MapFile{Data: []byte("A=2\x00")}
	c.advance(time.Millisecond)
	tb.Observe(audit(301, "/bin/a")) // the same program again, another environment
	if p, _ := tb.Get(301); len(p.Env) != 1 || p.Env[0] != "A=2" {
		t.Errorf("second exec, record first: env %v; want its own environment", p.Env)
	}
	f.remove(301)
	tb.Observe(pc(301))
	if p, _ := tb.Get(301); p.Partial || p.Exe != "/bin/a" || len(p.Env) != 1 || p.Env[0] != "A=2" {
		t.Errorf("second exec's report: %+v; want the record's read kept", p)
	}
}

// TestExeFileFields: the executable's stat is read only while a rule reads
// one of its fields, and an event carries it with Falco's writability.
func TestExeFileFields(t *testing.T) {
	tb := newTable(t, base(), &clock{t: time.Unix(1000, 0)}, 0)
	if tb.unread()&procfs.FieldExeStat != 0 {
		t.Error("no field use: exe stat left out")
	}
	used := map[string]bool{}
	tb.SetFieldUse(func(f string) bool { return used[f] })
	if tb.unread()&procfs.FieldExeStat == 0 {
		t.Error("nothing used: exe stat read")
	}
	for _, f := range []string{"proc.exe_ino", "proc.exe_ino_ctime", "proc.exe_ino_mtime", "proc.exe_writable"} {
		clear(used)
		used[f] = true
		if tb.unread()&procfs.FieldExeStat != 0 {
			t.Errorf("%s used: exe stat left out", f)
		}
	}

	ctime, mtime := time.Unix(1700000000, 5), time.Unix(1600000000, 7)
	tb.mu.Lock()
	tb.procs[200].ExeFile = procfs.ExeFile{Ino: 4242, Ctime: ctime, Mtime: mtime, Mode: 0o755, UID: 0, GID: 0}
	tb.mu.Unlock()
	got := enriched(tb, event.TypeOpen, 200) // bash, uid 1000
	if got.ExeIno != 4242 || !got.ExeInoCtime.Equal(ctime) || !got.ExeInoMtime.Equal(mtime) || got.ExeWritable {
		t.Errorf("exe_ino %d ctime %v mtime %v writable %v", got.ExeIno, got.ExeInoCtime, got.ExeInoMtime, got.ExeWritable)
	}
	if got := enriched(tb, event.TypeOpen, 100); got.ExeIno != 0 || got.ExeWritable {
		t.Errorf("exe not read: exe_ino %d writable %v", got.ExeIno, got.ExeWritable)
	}

	for _, c := range []struct {
		mode      uint32
		owner     int
		euid, gid int
		want      bool
	}{
		{0o755, 0, 0, 0, true},          // root writes anything
		{0o555, 0, 0, 0, true},          // even without a write bit
		{0o755, 0, 1000, 1000, false},   // another user's file
		{0o757, 0, 1000, 1000, true},    // other-writable
		{0o775, 0, 1000, 0, true},       // group-writable, its group
		{0o755, 1000, 1000, 1000, true}, // its own file
		{0o555, 1000, 1000, 1000, false},
		{0o077, 1000, 1000, 1000, false}, // the owner's bits decide for the owner
	} {
		x := procfs.ExeFile{Mode: c.mode, UID: c.owner, GID: 0}
		if got := exeWritable(&x, c.euid, c.gid); got != c.want {
			t.Errorf("mode %o owner %d, euid %d gid %d: writable %v, want %v", c.mode, c.owner, c.euid, c.gid, got, c.want)
		}
	}
}

// TestExecUIDChangeRenamesUser: runc init forks as root, sets the uid the
// container's exec asked for and execs. When the proc connector's exec is
// taken in before any report of the uid change, the process keeps its
// parent's ids and user name; audit's execve then brings the new uid, and
// the user name must follow it, not stay the parent's ("System user
// interactive" saw login as uid 1 named root and stayed silent).
func TestExecUIDChangeRenamesUser(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	tb := newTable(t, base(), c, 0)
	tb.Observe(pcEv(event.TypeFork, 400, 100)) // sshd's child: uid 0, root
	tb.Observe(pcEv(event.TypeExecve, 400, 100))
	au := pcEv(event.TypeExecve, 400, 100)
	au.Evt.Source = event.SourceAudit
	au.Proc.Exe, au.Proc.Args = "/usr/bin/bash", []string{"bash"}
	au.Proc.UID, au.Proc.EUID, au.Proc.GID, au.Proc.AUID = 1000, 1000, 1000, 1000
	tb.Observe(au)
	tb.Enrich(au)
	if au.Proc.UID != 1000 || au.Proc.User != "alice" {
		t.Errorf("audit's exec: uid %d user %q, want 1000 alice", au.Proc.UID, au.Proc.User)
	}
	if got := enriched(tb, event.TypeConnect, 400); got.UID != 1000 || got.User != "alice" {
		t.Errorf("a later event: uid %d user %q, want 1000 alice", got.UID, got.User)
	}
}
