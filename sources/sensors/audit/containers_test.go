package audit

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestContainerCopy(t *testing.T) {
	rs, err := ParseRules(strings.Join([]string{
		"-a always,exit -F arch=b64 -S openat -F path=/etc/shadow -F perm=r -k cred_read",
		"-w /root/.ssh/ -p r -k ssh",
		"-a always,exit -F arch=b64 -S execve -k exec",
	}, "\n"), 77, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, ok, err := rs[0].ContainerCopy(4242)
	if !ok || err != nil {
		t.Fatalf("path rule: ok=%v err=%v", ok, err)
	}
	want := "-a always,exit -F arch=b64 -S openat -F path=/proc/4242/root/etc/shadow -F perm=r -k cred_read -F pid!=77"
	if c.Text != want || c.Path != "/proc/4242/root/etc/shadow" || c.Line != 1 {
		t.Errorf("copy: %q path %q line %d\nwant %q", c.Text, c.Path, c.Line, want)
	}
	if bytes.Equal(c.Wire, rs[0].Wire) || len(c.Wire) <= len(rs[0].Wire) {
		t.Error("copy's wire form does not carry the longer path")
	}
	for i, r := range rs[1:] {
		if _, ok, err := r.ContainerCopy(4242); ok || err != nil {
			t.Errorf("rule %d (dir= or no path) copied: ok=%v err=%v", i+2, ok, err)
		}
	}
}

// TestContainerRule: a "container" rule is marked for containers only, and
// its dir= filter is re-rooted at a container's overlay mount.
func TestContainerRule(t *testing.T) {
	rs, err := ParseRules("container -a always,exit -F arch=b64 -S mkdir,mkdirat -F dir=/ -F success=1 -k mkdir", 77, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || !rs[0].Container || !rs[0].Dir || rs[0].Path != "/" {
		t.Fatalf("parsed %+v", rs)
	}
	root := "/var/lib/docker/overlay2/0123/merged"
	c, ok, err := rs[0].CopyAt(root)
	if !ok || err != nil {
		t.Fatalf("copy at the mount: ok=%v err=%v", ok, err)
	}
	want := "-a always,exit -F arch=b64 -S mkdir,mkdirat -F dir=" + root + " -F success=1 -k mkdir -F pid!=77"
	if c.Text != want || c.Path != root || !c.Dir {
		t.Errorf("copy: %q path %q dir %v\nwant %q", c.Text, c.Path, c.Dir, want)
	}
	for _, bad := range []string{"container", "container -a always,exit -F arch=b64 -S mkdir -k mkdir"} {
		if _, err := ParseRules(bad, 0, nil); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestWatchDirs(t *testing.T) {
	s, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := s.WatchDirs()
	for _, d := range []string{"/etc", "/etc/ssh", "/root/.ssh"} {
		if !slices.Contains(got, d) {
			t.Errorf("default rules: watch dirs %v lack %s", got, d)
		}
	}
	// The queue never blocks the caller.
	for i := range cap(s.watchReq) + 10 {
		s.WatchContainer(i+1, "c")
	}
	if s.Stats().WatchDrops != 10 {
		t.Errorf("drops %d, want 10", s.Stats().WatchDrops)
	}
}
