package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

type alert struct {
	Rule         string         `json:"rule"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
}

func (a alert) field(k string) string {
	v, ok := a.OutputFields[k]
	if !ok || v == nil {
		return ""
	}
	if f, ok := v.(float64); ok {
		return fmt.Sprint(int64(f))
	}
	return fmt.Sprint(v)
}

// TestProcconnOnlyJVMShell: `ruled -sources procconn` (no kernel audit at
// all) alerts on a JVM spawning a shell in a container, with the parent
// fields and the container's id and name right, and exits 0 on SIGTERM.
func TestProcconnOnlyJVMShell(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)

	// The JVM stand-in: the scenario suite's multi-call helper, run as
	// "java", which starts its arguments as a child like Runtime.exec.
	dir := t.TempDir()
	java := filepath.Join(dir, "java")
	build := exec.Command("go", "build", "-trimpath", "-o", java, "github.com/ruled/ruled/test/scenarios/helpers")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build java stand-in: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "-sources", "procconn", "-output", "json", "-log-level", "info")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var logMu sync.Mutex
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var mu sync.Mutex
	var alerts []alert
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var a alert
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Errorf("alert line is not JSON: %v: %s", err, sc.Text())
				continue
			}
			mu.Lock()
			alerts = append(alerts, a)
			mu.Unlock()
		}
	})
	running := make(chan struct{})
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			logMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if strings.Contains(sc.Text(), "ruled running") {
				once.Do(func() { close(running) })
			}
		}
	})
	go func() { wg.Wait(); exited <- cmd.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("ruled did not exit within 20s of SIGTERM")
		}
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			logMu.Lock()
			t.Logf("ruled log:\n%s", logs.String())
			logMu.Unlock()
		}
	})
	select {
	case <-running:
	case err := <-exited:
		t.Fatalf("ruled exited at start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("ruled did not start within 20s")
	}
	logMu.Lock()
	started := logs.String()
	logMu.Unlock()
	if !strings.Contains(started, "running=procconn") || strings.Contains(started, "running=audit") {
		t.Errorf("want only the procconn source running; log:\n%s", started)
	}

	name := fmt.Sprintf("ruled-agent-jvm-%d", os.Getpid())
	out, err := exec.Command("docker", "run", "-d", "--name", name, "--network", "none",
		"-v", java+":/usr/local/bin/java:ro", e2e.TestImage, "sleep", "60").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	time.Sleep(500 * time.Millisecond) // the container's name reaches ruled's cache
	// The shell lives a moment, so /proc still has it when its exec is seen:
	// the proc connector reports only pids.
	if out, err := exec.Command("docker", "exec", name, "java", "/bin/sh", "-c", "/bin/sleep 0.3").CombinedOutput(); err != nil {
		t.Fatalf("docker exec java: %v\n%s", err, out)
	}

	var got *alert
	deadline := time.Now().Add(10 * time.Second)
	for got == nil && time.Now().Before(deadline) {
		mu.Lock()
		for i := range alerts {
			if alerts[i].Rule == "Shell spawned by JVM" && alerts[i].field("container.id") == id {
				got = &alerts[i]
			}
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	if got == nil {
		t.Fatalf("no \"Shell spawned by JVM\" alert for container %s within 10s", id[:12])
	}
	for k, want := range map[string]string{
		"proc.name":      "sh",
		"proc.pname":     "java",
		"container.name": name,
		"evt.type":       "execve",
	} {
		if v := got.field(k); v != want {
			t.Errorf("alert %s = %q, want %q (output %q)", k, v, want, got.Output)
		}
	}
	if !strings.Contains(got.field("proc.pcmdline"), "java /bin/sh -c") {
		t.Errorf("alert proc.pcmdline = %q, want the java command line", got.field("proc.pcmdline"))
	}
	if err := stop(); err != nil {
		t.Errorf("ruled exit after SIGTERM: %v", err)
	}
}
