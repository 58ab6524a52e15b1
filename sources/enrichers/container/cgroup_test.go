package container

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ruled/ruled/sources/event"
)

const (
	fixtureID  = "cc9de3ac88e2a07d9ae2f4c080dd475c8d9279f594a0bfde035f243908ad7979"
	recordedID = "178c0a0c8e9f3e9ef1169b068001a4f998b7788b6523dc4713b0c6690070d1b5"
	fixtureID2 = "9b1f6e5a8e0f4c3d2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f"
)

func TestParseCgroupFixtures(t *testing.T) {
	tests := []struct {
		file string
		want Ref
	}{
		// Recorded on this machine (cgroup v1 + v2 unified, Docker 20.10).
		{"docker_cgroupfs", Ref{recordedID, event.RuntimeDocker}},
		{"host", Ref{event.HostID, ""}},
		{"host_init", Ref{event.HostID, ""}},
		// Layouts of other hosts, written from the runtimes' cgroup naming.
		{"docker_systemd_v2", Ref{fixtureID, event.RuntimeDocker}},
		{"docker_systemd_v1", Ref{fixtureID, event.RuntimeDocker}},
		{"containerd_systemd_colon", Ref{fixtureID, event.RuntimeContainerd}},
		{"k8s_containerd_systemd_burstable", Ref{fixtureID, event.RuntimeContainerd}},
		{"k8s_cgroupfs_besteffort", Ref{fixtureID, ""}},
		{"k8s_cgroupfs_guaranteed", Ref{fixtureID, ""}},
		{"k8s_cgroupfs_docker_prefix", Ref{fixtureID, event.RuntimeDocker}},
		{"k8s_crio_guaranteed", Ref{fixtureID, event.RuntimeCRIO}},
		{"crio_conmon", Ref{event.HostID, ""}},
		{"crio_nested_container", Ref{fixtureID, event.RuntimeCRIO}},
		{"podman_root", Ref{fixtureID, event.RuntimePodman}},
		{"podman_rootless", Ref{fixtureID, event.RuntimePodman}},
		{"podman_conmon", Ref{event.HostID, ""}},
		{"dind", Ref{fixtureID2, event.RuntimeDocker}},
		{"host_v2", Ref{event.HostID, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "cgroup", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ParseCgroup(f)
			if err != nil {
				t.Fatalf("ParseCgroup: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseCgroupEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Ref
		wantErr bool
	}{
		{"empty", "", Ref{}, true},
		{"garbage", "no colons here\n", Ref{}, true},
		{"short hex is not a container", "4:memory:/process_api/1d4c0d4cbfc29d2a34c0db38b8368123\n", Ref{ID: event.HostID}, false},
		{"upper-case hex is not an id", "0::/docker/" + "CC9DE3AC88E2A07D9AE2F4C080DD475C8D9279F594A0BFDE035F243908AD7979" + "\n", Ref{ID: event.HostID}, false},
		{"no trailing newline", "0::/docker/" + fixtureID, Ref{fixtureID, event.RuntimeDocker}, false},
		{"first naming line wins", "2:cpu:/\n1:memory:/docker/" + fixtureID + "\n0::/\n", Ref{fixtureID, event.RuntimeDocker}, false},
		{"scope with short id", "0::/system.slice/docker-abc.scope\n", Ref{ID: event.HostID}, false},
		{"bare id under unknown parent", "0::/lxc.payload/" + fixtureID + "\n", Ref{fixtureID, ""}, false},
		{"containerd colon docker", "0::/system.slice/x.slice:docker:" + fixtureID + "\n", Ref{fixtureID, event.RuntimeDocker}, false},
		{"colon with other runtime", "0::/system.slice/x.slice:other:" + fixtureID + "\n", Ref{ID: event.HostID}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCgroupBytes([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseCgroup(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "cgroup", "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ref, err := ParseCgroup(bytes.NewReader(b))
		if err != nil {
			return
		}
		if ref.ID != event.HostID && !isHexID([]byte(ref.ID)) {
			t.Fatalf("id %q is neither host nor a 64-hex id", ref.ID)
		}
		if ref.ID != event.HostID && !bytes.Contains(b, []byte(ref.ID)) {
			t.Fatalf("id %q not in input", ref.ID)
		}
	})
}

func BenchmarkParseCgroup(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "cgroup", "docker_cgroupfs"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("bytes_noalloc", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			id, _, err := parseCgroup(data)
			if err != nil || id == nil {
				b.Fatal("no id")
			}
		}
	})
	b.Run("ParseCgroupBytes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseCgroupBytes(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestRuntimeArgsID(t *testing.T) {
	id := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		comm string
		args []string
		want string
	}{
		{"runc", []string{"runc", "--root", "/var/run/docker/runtime-runc/moby", "exec", "--process", "/tmp/runc-process1", "--detach", id}, id},
		{"containerd-shim", []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", id, "-address", "/x.sock"}, id},
		{"conmon", []string{"conmon", "-c", id}, id},
		{"bash", []string{"bash", id}, ""},
		{"runc", []string{"runc", "list"}, ""},
		{"runc", []string{id}, ""}, // argv[0] is the program, never the id
	} {
		if got := RuntimeArgsID(tt.comm, tt.args); got != tt.want {
			t.Errorf("RuntimeArgsID(%q, %v) = %q, want %q", tt.comm, tt.args, got, tt.want)
		}
	}
}
