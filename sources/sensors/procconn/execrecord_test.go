package procconn

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/sources/event"
)

// build encodes one exec record the way appendExec does, from pieces.
func build(w *recordBuilder, k execKey, flags byte, mnt uint64, exe, stat, cmdline, cgrp []byte, fds [3]string) {
	w.begin(k)
	w.piece(exe)
	w.piece(stat)
	w.piece(cmdline)
	w.piece(cgrp)
	for _, f := range fds {
		switch f {
		case "":
			w.fd(0, nil)
		case "-":
			w.fd(fdClosed, nil)
		default:
			w.fd(fdLink, []byte(f))
		}
	}
	w.end(flags, mnt)
}

// TestExecRecordRoundTrip: what a reader encodes, the main reader decodes
// into the event's fields: exe without " (deleted)", stat's name, session
// and terminal, the argv, the container of the cgroup and fds 0-2; absent
// pieces stay empty.
func TestExecRecordRoundTrip(t *testing.T) {
	stat := []byte("4242 (my prog) S 1 4242 4100 34816 4242 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0")
	var w recordBuilder
	build(&w, execKey{pid: 4242, ts: 77}, flagReadExec|flagCgroup, 4026531841,
		[]byte("/usr/bin/prog (deleted)"), stat, []byte("prog\x00-x\x00"), []byte("0::/docker/abc\n"),
		[3]string{"/dev/pts/0", "socket:[123]", "-"})
	build(&w, execKey{pid: 7, ts: 8}, flagReadExec, 0, nil, nil, nil, nil, [3]string{})

	var cgroups []string
	containerOf := func(b []byte) string { cgroups = append(cgroups, string(b)); return "abc" }
	b := w.b
	r, n, err := nextRecord(b)
	if err != nil || n == 0 {
		t.Fatalf("first record: %d bytes, %v", n, err)
	}
	in := r.info(containerOf)
	if r.key != (execKey{pid: 4242, ts: 77}) || in.exe != "/usr/bin/prog" || in.name != "my prog" || in.sid != 4100 ||
		!in.tty || !in.complete || !slices.Equal(in.args, []string{"prog", "-x"}) || in.mnt != 4026531841 {
		t.Errorf("first record: key %+v info %+v", r.key, in)
	}
	if !in.hasCID || in.cid != "abc" || !slices.Equal(cgroups, []string{"0::/docker/abc\n"}) {
		t.Errorf("container: %v %q from %q", in.hasCID, in.cid, cgroups)
	}
	want := [3]procfs.Stdio{procfs.ClassifyFD("/dev/pts/0"), procfs.ClassifyFD("socket:[123]"), {Type: event.StdioNone}}
	if in.stdio != want {
		t.Errorf("stdio %+v, want %+v", in.stdio, want)
	}

	b = b[n:]
	r, n, err = nextRecord(b)
	if err != nil || n == 0 {
		t.Fatalf("second record: %d bytes, %v", n, err)
	}
	if in := r.info(containerOf); !in.readExec || in.complete || in.exe != "" || in.name != "" || in.args != nil || in.hasCID {
		t.Errorf("gone process: %+v", in)
	}
	if n != len(b) {
		t.Errorf("second record: %d of %d bytes", n, len(b))
	}
}

// TestExecRecordPartial: a pipe read can end anywhere in a record: every
// cut short of the whole says "more to come", never an error.
func TestExecRecordPartial(t *testing.T) {
	var w recordBuilder
	build(&w, execKey{pid: 1, ts: 2}, flagReadExec, 0, []byte("/bin/true"), []byte("1 (true) R 0 1 1 0 -1 0"), nil, nil, [3]string{})
	for cut := range len(w.b) {
		if _, n, err := nextRecord(w.b[:cut]); n != 0 || err != nil {
			t.Fatalf("cut at %d of %d: %d bytes, %v", cut, len(w.b), n, err)
		}
	}
}

// TestExecRecordMalformed: bytes that are no record are an error naming
// what is wrong, not a panic or a record.
func TestExecRecordMalformed(t *testing.T) {
	var w recordBuilder
	build(&w, execKey{pid: 1, ts: 2}, flagReadExec, 0, []byte("/bin/true"), nil, nil, nil, [3]string{})
	for _, tc := range []struct {
		name string
		mod  func(b []byte) []byte
		want string
	}{
		{"length too small", func(b []byte) []byte { b[0], b[1], b[2], b[3] = 1, 0, 0, 0; return b }, "exec record of 1 bytes"},
		{"unknown kind", func(b []byte) []byte { b[4] = 9; return b }, "kind 9"},
		{"piece beyond the record", func(b []byte) []byte { b[recordHead+9] = 0xF0; return b }, "short exec record"},
		{"bytes left over", func(b []byte) []byte {
			b = append(b, 0)
			b[0]++
			return b
		}, "left over"},
	} {
		b := tc.mod(bytes.Clone(w.b))
		if _, n, err := nextRecord(b); err == nil || n != 0 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %d bytes, error %v; want %q", tc.name, n, err, tc.want)
		}
	}
}
