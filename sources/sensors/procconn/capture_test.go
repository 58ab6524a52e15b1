package procconn

import (
	"encoding/binary"
	"os"
	"slices"
	"strings"
	"testing"
)

// testdata/execcapture-sleep.bin is a record the capturing program wrote
// (little-endian) for `/bin/sleep 0.2 0.1` on a host whose /bin links to
// usr/bin: the names sleep, bin, usr, then the crossing from the root
// file system's mount to the mount it was mounted on.
func TestParseCapture(t *testing.T) {
	b, err := os.ReadFile("testdata/execcapture-sleep.bin")
	if err != nil {
		t.Fatal(err)
	}
	k, in, err := parseCapture(b, 77)
	if err != nil {
		t.Fatal(err)
	}
	if k.pid != 25001 || k.ts != 16174056775204 {
		t.Errorf("key %+v", k)
	}
	want := execInfo{exe: "/usr/bin/sleep", name: "sleep", sid: 27214, readExec: true, complete: true, mnt: 77}
	if in.exe != want.exe || in.name != want.name || in.sid != want.sid || in.tty || !in.readExec || !in.complete || in.mnt != 77 {
		t.Errorf("parsed %+v, want %+v", in, want)
	}
	if !slices.Equal(in.args, []string{"/bin/sleep", "0.2", "0.1"}) {
		t.Errorf("argv %q", in.args)
	}
}

// TestParseCaptureBad: what the program would not write is an error that
// names the pid and what is wrong, never a guess.
func TestParseCaptureBad(t *testing.T) {
	good, err := os.ReadFile("testdata/execcapture-sleep.bin")
	if err != nil {
		t.Fatal(err)
	}
	ne := binary.NativeEndian
	for _, tt := range []struct {
		name string
		mend func([]byte) []byte
		want string
	}{
		{"short", func(b []byte) []byte { return b[:capOffArgs-1] }, "capture record of 1615 bytes"},
		{"argv cut", func(b []byte) []byte { return b[:len(b)-1] }, "with an argv of 19"},
		{"argv too long", func(b []byte) []byte { ne.PutUint64(b[capOffArgLen:], capArgsMax+1); return b }, "with an argv of 4096"},
		{"too deep", func(b []byte) []byte { ne.PutUint64(b[capOffLevels:], capLevels+1); return b }, "25 levels"},
		{"name without NUL", func(b []byte) []byte { b[capOffLens] = 5; return b }, "level 0: name of 5 bytes"},
		{"name longer than a slot", func(b []byte) []byte { b[capOffLens+1] = capNameSlot + 1; return b }, "level 1: name of 65 bytes"},
	} {
		b := tt.mend(slices.Clone(good))
		_, _, err := parseCapture(b, 1)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	// A record with no argv (an exec with argc 0) has none.
	b := slices.Clone(good[:capOffArgs])
	ne.PutUint64(b[capOffArgLen:], 0)
	if _, in, err := parseCapture(b, 1); err != nil || in.args != nil || in.exe != "/usr/bin/sleep" {
		t.Errorf("no argv: %+v, %v", in, err)
	}
}

func TestRootIsMountRoot(t *testing.T) {
	for _, tt := range []struct {
		mi   string
		want bool
	}{
		{"22 27 0:21 / /proc rw,relatime - proc proc rw\n27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n", true},
		// chrooted into a directory: its mount is not listed
		{"40 39 0:21 / /proc rw - proc proc rw\n", false},
		// root on a bind of a directory
		{"41 27 254:0 /srv/jail / rw - ext4 /dev/vda rw\n", false},
		{"", false},
	} {
		if got := rootIsMountRoot([]byte(tt.mi)); got != tt.want {
			t.Errorf("%q: %v, want %v", tt.mi, got, tt.want)
		}
	}
}
