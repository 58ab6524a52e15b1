package procfs

import (
	"errors"
	"io/fs"
	"slices"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/ruled/ruled/sources/event"
)

// goneFS is a fake /proc that records the names read and fails the ones in
// errs with their error (ESRCH, which a MapFS cannot give).
type goneFS struct {
	fstest.MapFS
	errs map[string]error
	read []string
}

func (g *goneFS) fail(op, name string) error {
	g.read = append(g.read, name)
	if err := g.errs[name]; err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

func (g *goneFS) Open(name string) (fs.File, error) {
	if err := g.fail("open", name); err != nil {
		return nil, err
	}
	return g.MapFS.Open(name)
}

func (g *goneFS) ReadFile(name string) ([]byte, error) {
	if err := g.fail("open", name); err != nil {
		return nil, err
	}
	return g.MapFS.ReadFile(name)
}

func (g *goneFS) ReadLink(name string) (string, error) {
	if err := g.fail("readlink", name); err != nil {
		return "", err
	}
	return g.MapFS.ReadLink(name)
}

func (g *goneFS) Stat(name string) (fs.FileInfo, error) {
	if err := g.fail("stat", name); err != nil {
		return nil, err
	}
	return g.MapFS.Stat(name)
}

func (g *goneFS) Lstat(name string) (fs.FileInfo, error) {
	if err := g.fail("lstat", name); err != nil {
		return nil, err
	}
	return g.MapFS.Lstat(name)
}

// liveReader is a reader over g that behaves as on the live /proc: the
// session from getsid, which says sid (or ESRCH when sid is 0).
func liveReader(g *goneFS, sid *int) *Reader {
	r := New(g)
	r.EnvMax = 4096
	r.getsid = func(int) (int, error) {
		if *sid == 0 {
			return 0, syscall.ESRCH
		}
		return *sid, nil
	}
	r.getpgid = r.getsid
	return r
}

// TestReadStopsAtGone: on the live /proc, a read that shows the process
// reaped ends the read, one that shows it exited (a zombie) reads only what
// a zombie still has, and a closed descriptor is told from a gone process
// by getsid, not a stat of its fd directory.
func TestReadStopsAtGone(t *testing.T) {
	link := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: fs.ModeSymlink} }
	sid := 7
	lean := FieldComm | FieldNSPid | FieldEnv | FieldStdio

	// Reaped between getsid and the read of comm.
	g := &goneFS{MapFS: fstest.MapFS{}}
	r := liveReader(g, &sid)
	if _, err := r.ProcessFields(300, lean); !errors.Is(err, ErrGone) {
		t.Errorf("reaped after getsid: error %v; want ErrGone", err)
	}
	if want := []string{"300/comm"}; !slices.Equal(g.read, want) {
		t.Errorf("reaped after getsid: read %q; want %q", g.read, want)
	}

	// A zombie: comm and the pid namespace are there; its environment
	// answers ESRCH; its descriptors, executable, cwd and other
	// namespaces are gone.
	g = &goneFS{MapFS: fstest.MapFS{
		"300/comm":   {Data: []byte("true\n")},
		"300/ns/pid": link("pid:[4026531836]"),
	}, errs: map[string]error{"300/environ": syscall.ESRCH}}
	r = liveReader(g, &sid)
	p, err := r.ProcessFields(300, lean|FieldExe|FieldCwd|FieldNSMnt|FieldNSNet)
	if err != nil || p.Comm != "true" || p.NS.PID != 4026531836 || p.Stdio != ([3]Stdio{}) {
		t.Errorf("zombie: %+v, %v; want its comm and pid namespace, no descriptors", p, err)
	}
	if want := []string{"300/comm", "300/environ", "300/ns/pid"}; !slices.Equal(g.read, want) {
		t.Errorf("zombie: read %q; want %q", g.read, want)
	}

	// Alive with fd 1 and 2 closed: getsid says so, no stat of fd/.
	g = &goneFS{MapFS: fstest.MapFS{"300/fd/0": link("/dev/pts/1")}}
	r = liveReader(g, &sid)
	if s := r.StdioOf(300); s[0].Type != event.StdioTTY || s[1].Type != event.StdioNone || s[2].Type != event.StdioNone {
		t.Errorf("closed descriptors: %+v; want tty, none, none", s)
	}
	if want := []string{"300/fd/0", "300/fd/1", "300/fd/2"}; !slices.Equal(g.read, want) {
		t.Errorf("closed descriptors: read %q; want %q", g.read, want)
	}

	// Gone between the read and its guided parts: the first descriptor
	// shows it (getsid fails), the rest are not read.
	g = &goneFS{MapFS: fstest.MapFS{}}
	sid = 0
	r = liveReader(g, &sid)
	if p := r.Parts(300, FieldStdio|FieldNSPid); p.Stdio != ([3]Stdio{}) || p.NS.PID != 0 {
		t.Errorf("gone before its parts: %+v; want nothing", p)
	}
	if want := []string{"300/fd/0"}; !slices.Equal(g.read, want) {
		t.Errorf("gone before its parts: read %q; want %q", g.read, want)
	}

	// A recorded tree (no getsid): a missing file is only missing.
	g = &goneFS{MapFS: fstest.MapFS{
		"300/stat":   {Data: []byte("300 (true) S 1 300 300 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n")},
		"300/ns/pid": link("pid:[4026531836]"),
	}}
	r = New(g)
	r.EnvMax = 4096
	if p, err := r.ProcessFields(300, lean|FieldStat); err != nil || p.NS.PID != 4026531836 {
		t.Errorf("recorded tree without environ and fds: %+v, %v; want the pid namespace read", p, err)
	}
}
