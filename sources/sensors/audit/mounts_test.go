package audit

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ruled/ruled/sources/enrichers/container"
)

// hostDockerMounts parses testdata/mountinfo-host-docker, /proc/1/mountinfo
// recorded on this machine while one Docker container ran.
func hostDockerMounts(t *testing.T) []container.Mount {
	t.Helper()
	b, err := os.ReadFile("testdata/mountinfo-host-docker")
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := container.ParseMountinfo(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return mounts
}

func TestNewOverlays(t *testing.T) {
	mounts := hostDockerMounts(t)
	const layer = "/var/lib/docker/overlay2/72cbfae268a6851d6bd941ae41ec077b89da7feb3d480072e142da031137b7b9"
	want := []overlayMount{{layer + "/merged", layer + "/diff"}}

	noUnique := func(string) uint64 { return 0 }
	seen, fresh := newOverlays(nil, mounts, noUnique)
	if !slices.Equal(fresh, want) {
		t.Fatalf("first read: fresh %v, want %v", fresh, want)
	}
	if _, again := newOverlays(seen, mounts, noUnique); len(again) != 0 {
		t.Errorf("unchanged table: fresh %v, want none", again)
	}
	// The same mountpoint with another upperdir is another container.
	other := slices.Clone(mounts)
	for i := range other {
		if other[i].FSType == "overlay" {
			other[i].SuperOpts = strings.ReplaceAll(other[i].SuperOpts, layer+"/diff", "/var/lib/docker/overlay2/other/diff")
		}
	}
	if _, f := newOverlays(seen, other, noUnique); len(f) != 1 || f[0].Upper != "/var/lib/docker/overlay2/other/diff" {
		t.Errorf("remounted with another upperdir: fresh %v", f)
	}
	// Unmounted and mounted again between two reads, given another id.
	remounted := slices.Clone(mounts)
	for i := range remounted {
		if remounted[i].FSType == "overlay" {
			remounted[i].ID += 1000
		}
	}
	if _, f := newOverlays(seen, remounted, noUnique); !slices.Equal(f, want) {
		t.Errorf("remounted: fresh %v, want %v", f, want)
	}
	// Unmounted and mounted again between two reads under the same id, as
	// the kernel does: only the unique id tells.
	unique := func(id uint64) func(string) uint64 {
		return func(mp string) uint64 {
			if mp == layer+"/merged" {
				return id
			}
			return 0
		}
	}
	seen, _ = newOverlays(nil, mounts, unique(7001))
	if _, f := newOverlays(seen, mounts, unique(7001)); len(f) != 0 {
		t.Errorf("same unique id: fresh %v, want none", f)
	}
	if _, f := newOverlays(seen, mounts, unique(7002)); !slices.Equal(f, want) {
		t.Errorf("same mount id, another unique id: fresh %v, want %v", f, want)
	}
	// Unmounted: gone from what is seen, so a later mount there is new.
	var none []container.Mount
	for _, m := range mounts {
		if m.FSType != "overlay" {
			none = append(none, m)
		}
	}
	if s, f := newOverlays(seen, none, noUnique); len(s) != 0 || len(f) != 0 {
		t.Errorf("after unmount: seen %v fresh %v", s, f)
	}
}

// TestOverlayRoots: a container's upperdir leads to its overlay's
// mountpoint, seen from ruled's root (prefix).
func TestOverlayRoots(t *testing.T) {
	mounts := hostDockerMounts(t)
	const layer = "/var/lib/docker/overlay2/72cbfae268a6851d6bd941ae41ec077b89da7feb3d480072e142da031137b7b9"
	s := &Source{}
	if got := s.overlayRoot(layer + "/diff"); got != "" {
		t.Errorf("before any mount table: %q", got)
	}
	s.overlays.Store(overlayRoots(mounts, "/proc/1/root"))
	if got := s.overlayRoot(layer + "/diff"); got != "/proc/1/root"+layer+"/merged" {
		t.Errorf("overlayRoot = %q", got)
	}
	if got := s.overlayRoot("/var/lib/docker/overlay2/gone/diff"); got != "" {
		t.Errorf("unknown upperdir: %q", got)
	}
}
