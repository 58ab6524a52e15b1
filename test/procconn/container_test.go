package procconn

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/enrichers/proctable"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/procconn"
	"github.com/ruled/ruled/test/e2e"
)

// cgroupID is a test-local container resolver: the 64-hex element of
// /proc/PID/cgroup, "host" without one.
func cgroupID(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	for _, f := range strings.FieldsFunc(string(b), func(r rune) bool { return r == '/' || r == '\n' || r == ':' || r == '-' || r == '.' }) {
		if len(f) == 64 && strings.Trim(f, "0123456789abcdef") == "" {
			return f
		}
	}
	return event.HostID
}

// TestContainerExec: an exec inside a container carries the container id
// (resolved at exec, or inherited), the container's namespaces and its
// in-container pid.
func TestContainerExec(t *testing.T) {
	e2e.RequireDocker(t)
	tb := proctable.New(proctable.Config{})
	tb.SetContainerResolver(cgroupID)
	if err := tb.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	src := procconn.New(procconn.Config{})
	var mu sync.Mutex
	var sleeps []event.Event
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- src.Run(ctx, func(ev *event.Event) {
			tb.Observe(ev)
			tb.Enrich(ev)
			if ev.Evt.Type == event.TypeExecve && ev.Proc.Name == "sleep" {
				mu.Lock()
				sleeps = append(sleeps, *ev)
				mu.Unlock()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("source: %v", err)
		}
	})
	time.Sleep(100 * time.Millisecond) // subscription settles
	// A path, not a bare "sleep": busybox sh runs its sleep applet in
	// process (NOFORK) and there would be no exec.
	out, err := exec.Command("docker", "run", "-d", "--network", "none", e2e.TestImage,
		"sh", "-c", "/bin/sleep 0.7; true").Output()
	if err != nil {
		t.Fatalf("docker run: %v", err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	_ = exec.Command("docker", "wait", id).Run()

	var hostMnt int
	if p, ok := tb.Get(os.Getpid()); ok {
		hostMnt = p.NS.Mnt
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		for _, ev := range sleeps {
			if ev.Container.ID != id {
				continue
			}
			mu.Unlock()
			if ev.NS.Mnt == 0 || ev.NS.Mnt == hostMnt {
				t.Errorf("mnt ns %d, host %d: want the container's", ev.NS.Mnt, hostMnt)
			}
			if ev.Proc.VPID <= 0 || ev.Proc.VPID >= ev.Proc.PID {
				t.Errorf("vpid %d pid %d", ev.Proc.VPID, ev.Proc.PID)
			}
			if ev.Proc.PName != "sh" || len(ev.Proc.ANames) == 0 || ev.Proc.User != "root" {
				t.Errorf("pname %q anames %q user %q", ev.Proc.PName, ev.Proc.ANames, ev.Proc.User)
			}
			return
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Fatalf("no sleep exec with container id %s; sleeps seen: %d", id, len(sleeps))
}
