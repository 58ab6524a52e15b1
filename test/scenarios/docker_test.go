package scenarios

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

// prefix names every container and image the suite creates, so a crashed
// earlier run is cleaned up by name and nothing else is ever touched.
const prefix = "ruled-scn-"

// helperNames are the names the multi-call helper is installed under.
var helperNames = []string{"java", "nginx", "apt-get", "sshd", "mysqld", "memfdexec", "ptracer", "kmodload", "poolclient", "xmrig", "docker", "socat", "debugfs",
	"setuidback", "dropuid", "uffd", "antidebug", "packetsock", "logrotate", "scp", "sha1sum"}

// docker runs the docker CLI and returns its trimmed stdout.
func docker(ctx context.Context, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(out.String()), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

func dockerT(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := docker(ctx, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// removeStale removes containers a crashed earlier run left behind.
func removeStale(t *testing.T) {
	t.Helper()
	ids := dockerT(t, "ps", "-aq", "--filter", "name=^/"+prefix)
	if ids == "" {
		return
	}
	args := append([]string{"rm", "-f"}, strings.Fields(ids)...)
	dockerT(t, args...)
}

// buildImage compiles the helper statically and commits a derived image of
// the offline test image with the helper under each name in /usr/local/bin.
// The helpers are in the image's lower layers, so running them is not drift.
func buildImage(t *testing.T, tag string) string {
	t.Helper()
	dir := t.TempDir()
	helper := filepath.Join(dir, "helper")
	build := exec.Command("go", "build", "-trimpath", "-o", helper, "github.com/ruled/ruled/test/scenarios/helpers")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build helpers: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(helper)
	if err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range helperNames {
		h := &tar.Header{Name: "usr/local/bin/" + n, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin)), ModTime: time.Now()}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(bin); err != nil {
			t.Fatal(err)
		}
	}
	// A private key shipped in the image, as careless images do: the
	// ssh-key-read scenario reads it.
	key := []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nruled scenario, not a key\n-----END OPENSSH PRIVATE KEY-----\n")
	if err := tw.WriteHeader(&tar.Header{Name: "root/.ssh/", Typeflag: tar.TypeDir, Mode: 0o700, ModTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "root/.ssh/id_ed25519", Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(key)), ModTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(key); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}

	image := prefix + "image:" + tag
	builder := prefix + "build-" + tag
	dockerT(t, "create", "--name", builder, e2e.TestImage)
	defer func() { _, _ = docker(context.Background(), nil, "rm", "-f", builder) }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := docker(ctx, tb.Bytes(), "cp", "-", builder+":/"); err != nil {
		t.Fatal(err)
	}
	dockerT(t, "commit", "-c", `CMD ["/bin/sh"]`, builder, image)
	t.Cleanup(func() { _, _ = docker(context.Background(), nil, "rmi", "-f", image) })
	return image
}

// execIn runs argv in the container (docker exec) and returns its output.
func execIn(name string, flags []string, argv []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"exec"}, flags...)
	args = append(args, name)
	args = append(args, argv...)
	return docker(ctx, nil, args...)
}
