package k8s

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

// imageCaps are the only capabilities the image runs with: audit (rules,
// daemon role, multicast), the proc connector (and its real-time receive
// thread), and reading other processes' /proc entries.
var imageCaps = []string{"AUDIT_CONTROL", "AUDIT_READ", "NET_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_NICE"}

// TestImageDetects builds the deploy/Dockerfile image offline (make image),
// checks it is small and has no shell, runs it on the real dockerd with the
// host pid and network namespaces, a read-only root, every capability
// dropped but imageCaps,
// and sees it alert on a binary dropped and executed in another container,
// named from the Docker socket; then docker stop makes it exit 0 and put
// audit back.
func TestImageDetects(t *testing.T) {
	e2e.RequireDocker(t)
	root := repoRoot(t)
	tag := fmt.Sprintf("ruled-k8s-test-image:%d", os.Getpid())
	if out, err := exec.Command("make", "-C", root, "image", "IMAGE="+tag).CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Size}}", tag).Output()
	if err != nil {
		t.Fatal(err)
	}
	if size, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); size <= 0 || size > 40<<20 {
		t.Errorf("image size %d bytes, want a small image (≤ 40 MiB)", size)
	}
	if out, err := exec.Command("docker", "run", "--rm", "--entrypoint", "/bin/sh", tag, "-c", "true").CombinedOutput(); err == nil {
		t.Errorf("the image has a shell: %s", out)
	}

	before := e2e.SaveAudit(t)
	state := t.TempDir()
	name := fmt.Sprintf("ruled-k8s-agent-%d", os.Getpid())
	// As the DaemonSet runs it: read-only root, /run/ruled from the host.
	args := []string{"run", "-d", "--name", name, "--pid", "host", "--network", "host", "--read-only", "--cap-drop", "ALL"}
	for _, c := range imageCaps {
		args = append(args, "--cap-add", c)
	}
	args = append(args, "-v", "/var/run/docker.sock:/var/run/docker.sock:ro", "-v", state+":/run/ruled", tag, "-output", "json")
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker run image: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command("docker", "stop", "-t", "20", name).Run()
		if t.Failed() {
			logs, _ := exec.Command("docker", "logs", "--tail", "80", name).CombinedOutput()
			t.Logf("agent container log:\n%s", logs)
		}
		_ = exec.Command("docker", "rm", "-f", name).Run()
		// Killed before it could restore: the host's ruled recovers from the
		// record the container left.
		if out, err := exec.Command(e2e.RuledBinary(t), "recover", "-state-dir", state).CombinedOutput(); err != nil {
			t.Errorf("ruled recover: %v\n%s", err, out)
		}
	})
	waitLogs(t, name, "audit rules installed", 30*time.Second)

	victim := fmt.Sprintf("ruled-k8s-victim-%d", os.Getpid())
	if out, err := exec.Command("docker", "run", "-d", "--name", victim, "--network", "none", e2e.TestImage,
		"sh", "-c", "sleep 1; cp /bin/busybox /tmp/dropper; /tmp/dropper sleep 30").CombinedOutput(); err != nil {
		t.Fatalf("docker run victim: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", victim).Run() })

	var got *e2e.Alert
	deadline := time.Now().Add(20 * time.Second)
	for got == nil && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		out, _ := exec.Command("docker", "logs", name).Output() // stdout: alerts
		for _, l := range strings.Split(string(out), "\n") {
			var a e2e.Alert
			if json.Unmarshal([]byte(l), &a) == nil && a.Rule == "Drop and execute new binary in container" && a.Field("container.name") == victim {
				got = &a
				break
			}
		}
	}
	if got == nil {
		t.Fatalf("the containerized agent did not alert on the dropped binary in %s", victim)
	}
	if got.Field("proc.exe") != "/tmp/dropper" {
		t.Errorf("alert proc.exe = %q, want /tmp/dropper (%s)", got.Field("proc.exe"), got.Output)
	}

	if out, err := exec.Command("docker", "stop", "-t", "20", name).CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v\n%s", err, out)
	}
	out, err = exec.Command("docker", "inspect", "-f", "{{.State.ExitCode}}", name).Output()
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("agent container exit code %q (%v), want 0 after SIGTERM", out, err)
	}
	if d := before.Diff(e2e.ReadAuditState(t)); len(d) > 0 {
		t.Errorf("the containerized agent left audit changed after docker stop: %v", d)
	}
}

// waitLogs waits until the container's log holds s.
func waitLogs(t *testing.T, name, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		out, _ := exec.Command("docker", "logs", name).CombinedOutput()
		if strings.Contains(string(out), s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s did not log %q within %v:\n%s", name, s, d, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// repoRoot is the module root (test/k8s/../..).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}
