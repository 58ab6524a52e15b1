package docker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/test/e2e"
)

// ctr is one test container.
type ctr struct {
	ID, Name string
	PID      int // the init process on the host
}

// runContainer starts a detached busybox container running script with no
// network and removes it when the test ends, even on failure.
func runContainer(t *testing.T, script string) ctr {
	t.Helper()
	name := fmt.Sprintf("ruled-e2e-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano()%1e6)
	out, err := exec.Command("docker", "run", "-d", "--name", name, "--network", "none", e2e.TestImage, "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "rm", "-f", id).CombinedOutput(); err != nil {
			t.Logf("docker rm -f %s: %v\n%s", name, err, out)
		}
	})
	out, err = exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", id).Output()
	if err != nil {
		t.Fatalf("docker inspect: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || pid <= 0 {
		t.Fatalf("container pid %q: %v", out, err)
	}
	return ctr{ID: id, Name: name, PID: pid}
}

// pidsIn returns the host pids whose cgroup names container id.
func pidsIn(t *testing.T, id string) []int {
	t.Helper()
	all, err := e2e.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, pid := range all {
		f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
		if err != nil {
			continue
		}
		ref, err := container.ParseCgroup(f)
		f.Close()
		if err == nil && ref.ID == id {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitPID polls the container's processes until match accepts one.
func waitPID(t *testing.T, id, what string, match func(pid int) bool) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, pid := range pidsIn(t, id) {
			if match(pid) {
				return pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no process %s in container %s", what, id[:12])
	return 0
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
}

func readlink(pid int, name string) string {
	s, _ := os.Readlink(fmt.Sprintf("/proc/%d/%s", pid, name))
	return s
}

// startResolver runs a resolver against runtime until the test ends.
func startResolver(t *testing.T, rt container.Runtime) *container.Resolver {
	t.Helper()
	r := container.NewResolver(container.Config{Runtime: rt, RetryInterval: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("resolver Run: %v", err)
		}
	})
	return r
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
