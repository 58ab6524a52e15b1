// Package test holds ruled's end-to-end tests: real kernel audit, the real
// proc connector and real Docker containers. They need root; outside root
// they skip with the reason, and under CI=true they fail instead, because in
// CI they must run. They share one kernel: never mark them t.Parallel.
package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// requireRoot skips the test when not root, or fails it under CI.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("end-to-end test needs root and CI=true: it must run in CI (run make test as root)")
	}
	t.Skip("end-to-end test needs root (kernel audit, proc connector, Docker); run make test as root")
}

// requireDocker also needs a reachable Docker daemon and the test image that
// test/setup.sh builds.
func requireDocker(t *testing.T) {
	t.Helper()
	requireRoot(t)
	if err := exec.Command("docker", "image", "inspect", TestImage).Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker or image %s not available (test/setup.sh prepares them): %v", TestImage, err)
		}
		t.Skipf("docker or image %s not available; run test/setup.sh: %v", TestImage, err)
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

// ruledBinary builds cmd/ruled once per test run and returns its path.
func ruledBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ruled-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		ruledBin = filepath.Join(dir, "ruled")
		cmd := exec.Command("go", "build", "-o", ruledBin, "../cmd/ruled")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build ruled: %v\n%s", buildErr, buildOut)
	}
	return ruledBin
}
