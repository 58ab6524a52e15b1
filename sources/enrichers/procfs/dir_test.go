package procfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

// TestDirMatchesDirFS reads the recorded processes through Dir and through
// os.DirFS: the plain system calls must see what the standard library sees.
func TestDirMatchesDirFS(t *testing.T) {
	fast, std := New(Dir("testdata/proc")), New(os.DirFS("testdata/proc"))
	fast.EnvMax, std.EnvMax = 4096, 4096
	for _, pid := range []int{10176, 10238, 2} {
		got, err := fast.Process(pid)
		if err != nil {
			t.Fatalf("pid %d: %v", pid, err)
		}
		want, err := std.Process(pid)
		if err != nil {
			t.Fatalf("pid %d (os.DirFS): %v", pid, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("pid %d:\nDir      %+v\nos.DirFS %+v", pid, got, want)
		}
	}
	if _, err := fast.Process(999999); !errors.Is(err, ErrGone) {
		t.Errorf("gone pid: err = %v, want ErrGone", err)
	}
}

// eachLiveStatus reads every live process with r's ProcessFields(want)
// between two reads of its status and calls check with the three; check
// reports whether it compared (false: the process changed meanwhile). A
// process gone meanwhile is skipped; none compared fails the test.
func eachLiveStatus(t *testing.T, r *Reader, want Fields, check func(pid int, p Process, ss, again Status) bool) {
	t.Helper()
	pids, err := r.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, pid := range pids {
		ss, err := r.Status(pid)
		if err != nil {
			continue // gone
		}
		p, err := r.ProcessFields(pid, want)
		if err != nil {
			continue
		}
		again, err := r.Status(pid)
		if err != nil {
			continue
		}
		if check(pid, p, ss, again) {
			compared++
		}
	}
	if compared == 0 {
		t.Fatal("no process compared")
	}
}

// TestCapgetMatchesStatus reads every live process's capability sets with
// capget(2) and from its status file: the two must agree. A reader of any
// /proc but ours (a recorded tree) must not use capget.
func TestCapgetMatchesStatus(t *testing.T) {
	r := New(Dir("/proc"))
	if r.capget == nil {
		t.Skip("no capget reader on this system's /proc")
	}
	eachLiveStatus(t, r, FieldCaps, func(pid int, p Process, ss, again Status) bool {
		if again.CapEff != ss.CapEff || again.CapPrm != ss.CapPrm {
			return false // changed meanwhile
		}
		if p.CapEff != ss.CapEff || p.CapPrm != ss.CapPrm || p.CapInh != ss.CapInh {
			t.Errorf("pid %d: capget eff %x prm %x inh %x, status %x %x %x",
				pid, p.CapEff, p.CapPrm, p.CapInh, ss.CapEff, ss.CapPrm, ss.CapInh)
		}
		return true
	})
	if New(Dir("testdata/proc")).capget != nil {
		t.Error("a recorded /proc tree reads capabilities with capget")
	}
}

// TestGetsidMatchesStat: a read without stat takes the session and the
// process group from getsid(2) and getpgid(2), which must agree with stat's for every live process, and says
// a process is gone as a stat read does. A recorded tree reads stat.
func TestGetsidMatchesStat(t *testing.T) {
	r := New(Dir("/proc"))
	if r.getsid == nil {
		t.Skip("no getsid reader on this system's /proc")
	}
	pids, err := r.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, pid := range pids {
		st, err := r.Stat(pid)
		if err != nil {
			continue
		}
		p, err := r.ProcessFields(pid, 0)
		if err != nil {
			continue
		}
		if p.SID != st.SID {
			t.Errorf("pid %d: getsid %d, stat %d", pid, p.SID, st.SID)
		}
		if p.PGID != st.PGRP {
			t.Errorf("pid %d: getpgid %d, stat %d", pid, p.PGID, st.PGRP)
		}
		if p.PPID != 0 || p.Comm != "" {
			t.Errorf("pid %d: read without stat has ppid %d comm %q", pid, p.PPID, p.Comm)
		}
		compared++
	}
	if compared == 0 {
		t.Fatal("no process compared")
	}
	if _, err := r.ProcessFields(999999999, FieldStdio); !errors.Is(err, ErrGone) {
		t.Errorf("gone pid: err = %v, want ErrGone", err)
	}
	rec := New(Dir("testdata/proc"))
	if p, err := rec.ProcessFields(10176, 0); err != nil || p.Comm == "" {
		t.Errorf("recorded tree without FieldStat: %+v, %v; want stat read", p, err)
	}
}

// TestStdioFD classifies single descriptors of this process: a pipe, a
// closed one, and each standard one as StdioOf sees it.
func TestStdioFD(t *testing.T) {
	r := New(Dir("/proc"))
	pid := os.Getpid()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if got := r.StdioFD(pid, int(pr.Fd())); got.Type != "pipe" || got.Inode == 0 {
		t.Errorf("pipe fd: %+v", got)
	}
	closed := int(pw.Fd()) + 1000
	if got := r.StdioFD(pid, closed); got != (Stdio{Type: "none"}) {
		t.Errorf("closed fd: %+v", got)
	}
	all := r.StdioOf(pid)
	for fd := range all {
		if got := r.StdioFD(pid, fd); got != all[fd] {
			t.Errorf("fd %d: StdioFD %+v, StdioOf %+v", fd, got, all[fd])
		}
	}
	if got := r.StdioFD(999999999, 0); got != (Stdio{}) {
		t.Errorf("gone pid: %+v", got)
	}
}

// TestDirFS checks Dir against the fs.FS contracts (ReadFile agrees with
// Open and Read) on a copy of a recorded process's files.
func TestDirFS(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"stat", "status", "cmdline"} {
		b, err := os.ReadFile("testdata/proc/10176/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := fstest.TestFS(Dir(dir), "stat", "status", "cmdline"); err != nil {
		t.Fatal(err)
	}
}

func TestDirLongLinkAndBadPath(t *testing.T) {
	dir := t.TempDir()
	target := "/" + strings.Repeat("x", 300) + "/" + strings.Repeat("y", 300)
	if err := os.Symlink(target, filepath.Join(dir, "exe")); err != nil {
		t.Fatal(err)
	}
	got, err := Dir(dir).ReadLink("exe")
	if err != nil || got != target {
		t.Errorf("ReadLink = %q, %v; want the %d-byte target", got, err, len(target))
	}
	if _, err := Dir(dir).ReadFile("../etc/passwd"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadFile(../etc/passwd) err = %v, want fs.ErrInvalid", err)
	}
	if _, err := Dir(dir).ReadLink("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadLink(missing) err = %v, want fs.ErrNotExist", err)
	}
}

func TestReadInto(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	data := strings.Repeat("0123456789", 1000)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{10, 9999, 10000, 20000} {
		buf := make([]byte, size)
		n, err := ReadInto(p, buf)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(size, len(data)); n != want || string(buf[:n]) != data[:want] {
			t.Errorf("buffer %d: read %d bytes, want %d", size, n, want)
		}
	}
	if _, err := ReadInto(p+"-missing", make([]byte, 8)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
}

// BenchmarkProcessSelf compares one full read of a live process (this one)
// through Dir and through os.DirFS, and the read the process table makes
// of a proc connector exec when audit's record brings the rest (stat,
// standard descriptors, namespaces).
func BenchmarkProcessSelf(b *testing.B) {
	pid := os.Getpid()
	for _, c := range []struct {
		name string
		fs   fs.FS
		want Fields
	}{
		{"Dir", Dir("/proc"), AllFields},
		{"os.DirFS", os.DirFS("/proc"), AllFields},
		{"Dir/stat+stdio+ns", Dir("/proc"), FieldStat | FieldStdio | FieldNS},
		{"Dir/stat+stdio+ns+caps+env", Dir("/proc"), FieldStat | FieldStdio | FieldNS | FieldCaps | FieldEnv},
		{"Dir/sid+stdio+ns+caps+env", Dir("/proc"), FieldStdio | FieldNS | FieldCaps | FieldEnv},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := New(c.fs)
			r.EnvMax = 4096
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.ProcessFields(pid, c.want); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestEnvInterned: two processes with the same environment share one
// parsed list; another environment gets its own; the cache stays bounded.
func TestEnvInterned(t *testing.T) {
	dir := t.TempDir()
	write := func(pid, env string) {
		if err := os.MkdirAll(filepath.Join(dir, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, pid, "environ"), []byte(env), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("1", "A=1\x00B=2\x00")
	write("2", "A=1\x00B=2\x00")
	write("3", "A=1\x00B=3\x00")
	r := New(Dir(dir))
	env := func(name string) []string {
		e, err := r.env(name, 4096)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b, c := env("1/environ"), env("2/environ"), env("3/environ")
	if !reflect.DeepEqual(a, []string{"A=1", "B=2"}) || !reflect.DeepEqual(c, []string{"A=1", "B=3"}) {
		t.Fatalf("env: %q, %q", a, c)
	}
	if &a[0] != &b[0] {
		t.Error("the same environment read twice is not shared")
	}
	for i := range envCacheMax + 10 {
		write("4", fmt.Sprintf("N=%d\x00", i))
		if got := env("4/environ"); len(got) != 1 || got[0] != fmt.Sprintf("N=%d", i) {
			t.Fatalf("environment %d: %q", i, got)
		}
	}
	if len(r.envs) > envCacheMax {
		t.Errorf("cache holds %d environments, bound %d", len(r.envs), envCacheMax)
	}
}

// TestExeStatIsTheExecutable: FieldExeStat stats the file the process runs
// (the test binary here), on the live /proc only.
func TestExeStatIsTheExecutable(t *testing.T) {
	r := New(Dir("/proc"))
	if !r.statExe {
		t.Skip("not the live /proc of our pid namespace")
	}
	p, err := r.ProcessFields(os.Getpid(), FieldExeStat)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	x := p.ExeFile
	if x.Ino != st.Ino || !x.Mtime.Equal(fi.ModTime()) || x.Ctime.IsZero() || x.Mode != uint32(fi.Mode().Perm()) || x.UID != int(st.Uid) {
		t.Errorf("exe stat %+v, want inode %d mtime %v mode %o uid %d", x, st.Ino, fi.ModTime(), fi.Mode().Perm(), st.Uid)
	}
	if p, _ := r.ProcessFields(os.Getpid(), 0); p.ExeFile.Ino != 0 {
		t.Errorf("exe stat without FieldExeStat: %+v", p.ExeFile)
	}
	if p, _ := New(os.DirFS("/proc")).ProcessFields(os.Getpid(), FieldExeStat); p.ExeFile.Ino != 0 {
		t.Errorf("exe stat on a /proc that is not the live Dir: %+v", p.ExeFile)
	}
}
