package inspect

import (
	"os"
	"testing"

	"github.com/ruled/ruled/sources/enrichers/container"
)

func readMountinfo(t *testing.T, name string) []container.Mount {
	t.Helper()
	f, err := os.Open("testdata/mountinfo/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := container.ParseMountinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMounts(t *testing.T) {
	ctr := readMountinfo(t, "container")
	host := readMountinfo(t, "host")
	const id = "1c033df0629c9a4fb6c814488a63e7f37e83171b0d5ec8d89cc764714c526d77"
	const runtimeDir = "/var/lib/docker/containers/" + id
	got := map[string]Mount{}
	for _, m := range Mounts(ctr, host, id) {
		got[m.Destination] = m
	}
	if len(got) != len(ctr) {
		t.Errorf("%d mounts for %d mountinfo lines", len(got), len(ctr))
	}
	tests := []struct {
		dest, hostPath string
		sensitive      bool
	}{
		{"/", "", false},
		{"/proc", "", false},
		{"/proc/keys", "", false},
		{"/sys", "", false},
		{"/sys/fs/cgroup/cpu", "", false},
		{"/data", "/tmp/ruled-insp-fix", false},
		{"/host/etc", "/etc", true},
		{"/var/run/docker.sock", "/run/docker.sock", true},
		{"/etc/hosts", runtimeDir + "/hosts", false},
		{"/etc/resolv.conf", runtimeDir + "/resolv.conf", false},
	}
	for _, tt := range tests {
		m, ok := got[tt.dest]
		if !ok {
			t.Errorf("%s: missing", tt.dest)
			continue
		}
		if m.HostPath != tt.hostPath || m.Sensitive != tt.sensitive {
			t.Errorf("%s: host path %q sensitive %v (%s), want %q %v", tt.dest, m.HostPath, m.Sensitive, m.Reason, tt.hostPath, tt.sensitive)
		}
	}
	if d := got["/data"]; d.Source != "/tmp/ruled-insp-fix" || d.Type != "ext4" || d.Options != "rw,relatime" {
		t.Errorf("/data: %+v", d)
	}
}

func TestSensitive(t *testing.T) {
	for _, tt := range []struct {
		p    string
		want bool
	}{
		{"/", true}, {"/proc", true}, {"/sys/kernel", true}, {"/etc", true}, {"/etcetera", false},
		{"/var/run/docker.sock", true}, {"/run/containerd/containerd.sock", true},
		{"/srv/data", false}, {"/home/u/project", false},
	} {
		if got, why := sensitive(tt.p); got != tt.want {
			t.Errorf("sensitive(%q) = %v (%s), want %v", tt.p, got, why, tt.want)
		}
	}
}
