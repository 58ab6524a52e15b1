package procfs

import (
	"io/fs"
	"testing"
	"testing/fstest"
)

// TestHostMountNS: init's mount namespace, else kthreadd's where init's
// link cannot be read, else 0.
func TestHostMountNS(t *testing.T) {
	link := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: fs.ModeSymlink} }
	for _, tt := range []struct {
		name string
		fsys fstest.MapFS
		want uint64
	}{
		{"init's", fstest.MapFS{"1/ns/mnt": link("mnt:[4026531841]"), "2/ns/mnt": link("mnt:[4026531840]")}, 4026531841},
		{"init's unreadable: kthreadd's", fstest.MapFS{"2/ns/mnt": link("mnt:[4026531840]")}, 4026531840},
		{"init's malformed: kthreadd's", fstest.MapFS{"1/ns/mnt": link("mnt:"), "2/ns/mnt": link("mnt:[4026531840]")}, 4026531840},
		{"neither", fstest.MapFS{}, 0},
	} {
		if got := HostMountNS(tt.fsys); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}
