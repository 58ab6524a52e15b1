// Package e2e holds what ruled's end-to-end test packages (test/*) share.
// Those tests use real kernel audit, the real proc connector and real Docker
// containers. They need root; outside root they skip with the reason, and
// under CI=true they fail instead, because in CI they must run. They share
// one kernel: never mark them t.Parallel (make runs the packages with -p 1).
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// RequireRoot skips the test when not root, or fails it under CI.
func RequireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("end-to-end test needs root and CI=true: it must run in CI (run make test as root)")
	}
	t.Skip("end-to-end test needs root (kernel audit, proc connector, Docker); run make test as root")
}

// Unavailable is for a test whose tool or fixture is missing: it fails the
// test under CI=true, where test/setup.sh must have prepared it, and skips
// it elsewhere.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// RequireDocker also needs a reachable Docker daemon and the test image that
// test/setup.sh builds.
func RequireDocker(t *testing.T) {
	t.Helper()
	RequireRoot(t)
	if err := exec.Command("docker", "image", "inspect", TestImage).Run(); err != nil {
		Unavailable(t, "docker or image %s not available (test/setup.sh prepares them): %v", TestImage, err)
	}
}

// TestImage is the offline busybox image test/setup.sh builds.
const TestImage = "ruled-test-busybox:latest"

var (
	buildOnce sync.Once
	ruledBin  string
	buildErr  error
	buildOut  []byte
)

// RuledBinary builds cmd/ruled once per test binary and returns its path.
func RuledBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ruled-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		ruledBin = filepath.Join(dir, "ruled")
		cmd := exec.Command("go", "build", "-o", ruledBin, "github.com/ruled/ruled/cmd/ruled")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build ruled: %v\n%s", buildErr, buildOut)
	}
	return ruledBin
}

// Docker runs the docker CLI and returns its trimmed output, failing the
// test with that output when the command fails.
func Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// PIDs returns the pids of the processes /proc lists now (its numeric
// entries), for tests that look for processes by what /proc says of them.
func PIDs() ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
