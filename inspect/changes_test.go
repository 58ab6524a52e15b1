package inspect

import (
	"io/fs"
	"os"
	"testing"
	"testing/fstest"
)

func TestChangesOverlay(t *testing.T) {
	upper := os.DirFS("testdata/overlay/upper")
	lower := os.DirFS("testdata/overlay/lower")
	list, more, err := Changes(upper, []fs.FS{lower}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if more != 0 {
		t.Errorf("more = %d", more)
	}
	type want struct {
		kind, typ string
		exec      bool
	}
	wants := map[string]want{
		"/etc":           {Changed, "dir", false},
		"/etc/passwd":    {Changed, "file", false},
		"/tmp":           {Added, "dir", false},
		"/tmp/implant":   {Added, "file", true}, // ELF magic, no x bit
		"/tmp/run.sh":    {Added, "file", true},
		"/tmp/notes.txt": {Added, "file", false},
	}
	got := map[string]Change{}
	for _, c := range list {
		got[c.Path] = c
	}
	if len(got) != len(wants) {
		t.Errorf("got %d changes, want %d: %+v", len(got), len(wants), list)
	}
	for p, w := range wants {
		c, ok := got[p]
		if !ok {
			t.Errorf("%s missing", p)
			continue
		}
		if c.Kind != w.kind || c.Type != w.typ || c.Executable != w.exec {
			t.Errorf("%s: %s %s exec=%v, want %s %s exec=%v", p, c.Kind, c.Type, c.Executable, w.kind, w.typ, w.exec)
		}
		if c.Type == "file" && (c.Size == 0 || c.MTime.IsZero() || c.Mode == "") {
			t.Errorf("%s: size %d mtime %v mode %q", p, c.Size, c.MTime, c.Mode)
		}
	}
}

func TestChangesWhiteout(t *testing.T) {
	upper := fstest.MapFS{
		"bin/busybox": {Mode: fs.ModeDevice | fs.ModeCharDevice}, // whiteout
		"bin/new":     {Data: []byte("x"), Mode: 0o755},
	}
	lower := fstest.MapFS{"bin/busybox": {Data: []byte("bb")}}
	list, _, err := Changes(upper, []fs.FS{lower}, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range list {
		got[c.Path] = c.Kind
	}
	want := map[string]string{"/bin": Changed, "/bin/busybox": Deleted, "/bin/new": Added}
	for p, k := range want {
		if got[p] != k {
			t.Errorf("%s: %q, want %q (all: %v)", p, got[p], k, got)
		}
	}
}

func TestChangesMax(t *testing.T) {
	upper := fstest.MapFS{"a": {}, "b": {}, "c": {}, "d": {}}
	list, more, err := Changes(upper, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || more != 1 {
		t.Errorf("%d listed, %d more; want 3 and 1", len(list), more)
	}
}

func TestChangesMissingUpper(t *testing.T) {
	if _, _, err := Changes(os.DirFS("testdata/no-such-dir"), nil, 0); err == nil {
		t.Error("no error for a missing upper dir")
	}
}
