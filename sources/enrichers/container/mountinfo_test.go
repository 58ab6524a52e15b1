package container

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRootOverlay(t *testing.T) {
	readFixture := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "mountinfo", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name   string
		in     string
		want   string
		wantOK bool
	}{
		{"docker container (recorded)", readFixture("docker"), "/var/lib/docker/overlay2/6e75451db9ac4a5e2285de0ac286b1ca5acb32c927f4c782ed43b8e8628bcb5c/diff", true},
		{"host (recorded)", readFixture("host"), "", false},
		{"empty", "", "", false},
		{"overlay without upperdir (read-only)", "1 0 0:1 / / ro - overlay overlay ro,lowerdir=/a:/b\n", "", false},
		{"overlay not at root", "1 0 0:1 / /mnt rw - overlay overlay rw,lowerdir=/a,upperdir=/u,workdir=/w\n", "", false},
		{"later root mount hides overlay", "1 0 0:1 / / rw - overlay overlay rw,lowerdir=/a,upperdir=/u,workdir=/w\n2 1 0:2 / / rw - ext4 /dev/sda1 rw\n", "", false},
		{"optional fields", "1 0 0:1 / / rw,relatime shared:1 master:2 - overlay overlay rw,upperdir=/u\n", "/u", true},
		{"octal escape", `1 0 0:1 / / rw - overlay overlay rw,upperdir=/a\040b` + "\n", "/a b", true},
		{"no separator", "1 0 0:1 / / rw overlay overlay rw,upperdir=/u\n", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ParseRootOverlay(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got (%q, %v), want (%q, %v)", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestInUpper(t *testing.T) {
	upper := t.TempDir()
	if err := os.MkdirAll(filepath.Join(upper, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "tmp", "x"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		upper string
		exe   string
		want  bool
	}{
		{"written after start", upper, "/tmp/x", true},
		{"deleted suffix", upper, "/tmp/x (deleted)", true},
		{"in lower layer only", upper, "/bin/busybox", false},
		{"directory is not an exe", upper, "/tmp", false},
		{"path through a file", upper, "/file/x", false},
		{"empty bind-mount placeholder", upper, "/file", false},
		{"no upper layer", "", "/tmp/x", false},
		{"relative exe", upper, "tmp/x", false},
		{"dot-dot stays inside", upper, "/../../tmp/x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inUpper(tt.upper, tt.exe)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseRootOverlay(f *testing.F) {
	for _, n := range []string{"docker", "host"} {
		b, err := os.ReadFile(filepath.Join("testdata", "mountinfo", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		upper, ok, err := ParseRootOverlay(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if !ok && upper != "" {
			t.Fatalf("upper %q without ok", upper)
		}
	})
}

func TestParseMountinfo(t *testing.T) {
	f, err := os.Open("testdata/mountinfo/docker")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := ParseMountinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].MountPoint != "/" || ms[0].FSType != "overlay" || ms[0].ID != 72 || ms[0].Parent != 48 || ms[0].Dev != "0:39" {
		t.Fatalf("first mount %+v", ms[0])
	}
	if up, ok := ms[0].SuperOption("upperdir"); !ok || !strings.HasSuffix(up, "/diff") {
		t.Errorf("upperdir %q %v", up, ok)
	}
	if _, ok := ms[0].SuperOption("lowerdir"); !ok {
		t.Error("no lowerdir")
	}
	esc, _ := ParseMountinfo(strings.NewReader(`90 75 254:0 /tmp/a\040b /data\040dir rw - ext4 /dev/vda rw` + "\n"))
	if len(esc) != 1 || esc[0].Root != "/tmp/a b" || esc[0].MountPoint != "/data dir" {
		t.Errorf("octal escapes: %+v", esc)
	}
}

func FuzzParseMountinfo(f *testing.F) {
	b, _ := os.ReadFile("testdata/mountinfo/docker")
	f.Add(string(b))
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMountinfo(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			_, _ = m.SuperOption("upperdir")
		}
	})
}
