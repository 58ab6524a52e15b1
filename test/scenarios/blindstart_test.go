package scenarios

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

const shadowRule = "Read sensitive file untrusted"

// TestNoBlindStart: a container whose entrypoint reads /etc/shadow at once
// is seen. The container's /etc/shadow is another inode than the host's, so
// its audit watch must exist before the entrypoint runs: ruled adds it when
// the runtime mounts the container's root overlay, before runc creates the
// container's first process. 50 such containers started together must all
// alert.
func TestNoBlindStart(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)
	tag := strconv.Itoa(os.Getpid())
	removeStale(t)
	const n = 50

	e2e.SaveAudit(t)
	ag := startAgent(t, bin, "-output", "json", "-config", unlimitedConfig(t), "-stats-interval", "5s")
	t.Cleanup(func() { _, _ = ag.stop(15 * time.Second) })
	waitShadowAlert(t, ag, tag)

	cpu0 := cpuTicks(t, ag.cmd.Process.Pid)
	begin := time.Now()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i], errs[i] = runShadowBox(t, fmt.Sprintf("%sblind%d-%s", prefix, i, tag)) })
	}
	wg.Wait()
	started := time.Since(begin)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var missed []string
	wait := time.Now().Add(20 * time.Second)
	for {
		missed = missed[:0]
		alerts := ag.snapshot()
		for i, id := range ids {
			ok := false
			for _, a := range alerts {
				if a.Rule == shadowRule && a.get("container.id") == id {
					ok = true
					break
				}
			}
			if !ok {
				missed = append(missed, fmt.Sprintf("%sblind%d", prefix, i))
			}
		}
		if len(missed) == 0 || time.Now().After(wait) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	cpu := cpuTicks(t, ag.cmd.Process.Pid) - cpu0
	t.Logf("%d containers reading /etc/shadow at start, started together in %v: %d alerted; ruled CPU %d ms (%.1f ms per container start)",
		n, started.Round(time.Millisecond), n-len(missed), cpu*10, float64(cpu*10)/n)
	if len(missed) > 0 {
		ag.logTail(t)
		logAuditRules(t)
		t.Errorf("%d of %d containers' /etc/shadow reads not alerted: %s", len(missed), n, strings.Join(missed, ", "))
	}
}

// runShadowBox starts a container whose entrypoint reads /etc/shadow at
// once, and removes it when the test ends. The container lives on after
// the read: with 50 of them exiting while others are created, Debian's
// dockerd 20.10 deadlocked in libnetwork (sandbox deletion against
// creation, goroutine dump of 2026-12-05 on a contended VM) and every
// docker command after it hung.
func runShadowBox(t *testing.T, name string) (string, error) {
	t.Cleanup(func() { _, _ = docker(context.Background(), nil, "rm", "-f", name) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// cat itself is the entrypoint; "-" then keeps it reading the open
	// stdin (-i).
	return docker(ctx, nil, "run", "-d", "-i", "--name", name, "--network", "none", e2e.TestImage, "cat", "/etc/shadow", "-")
}

// waitShadowAlert waits until a container started after the agent alerts
// for its entrypoint's read of /etc/shadow: the audit rules are in and
// the agent reads the mount table.
func waitShadowAlert(t *testing.T, ag *agent, tag string) {
	t.Helper()
	deadline := time.Now().Add(readyWait)
	for i := 0; ; i++ {
		since := time.Now()
		id, err := runShadowBox(t, fmt.Sprintf("%sblind-ready%d-%s", prefix, i, tag))
		if err != nil {
			t.Fatal(err)
		}
		if ag.waitFor(since, 2*time.Second, func(a *alert) bool { return a.Rule == shadowRule && a.get("container.id") == id }) != nil {
			return
		}
		if time.Now().After(deadline) || !ag.running() {
			ag.logTail(t)
			logAuditRules(t)
			t.Fatalf("no %q alert from a warm-up container within %v", shadowRule, readyWait)
		}
	}
}

// cpuTicks returns utime+stime of pid in clock ticks (USER_HZ, 100/s).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return u + st
}

// logAuditRules shows the kernel's audit rules (a failure's context).
func logAuditRules(t *testing.T) {
	t.Helper()
	out, err := exec.Command("auditctl", "-l").CombinedOutput()
	t.Logf("auditctl -l (%v):\n%s", err, out)
}

// TestOneCopyPerContainer: a container whose overlay got its copies of the
// path= watches when it was mounted needs no others: its processes' events
// must not add copies rooted at /proc/PID/root beside them (the same
// inodes, watched twice: twice the rules for the kernel to check at each
// open and to remove at exit). The container's own root is a copy of the
// host's overlay mount in its mount namespace, another mount with the same
// inodes, which ruled must tell.
func TestOneCopyPerContainer(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)
	tag := strconv.Itoa(os.Getpid())
	removeStale(t)
	e2e.SaveAudit(t)
	ag := startAgent(t, bin, "-output", "json")
	t.Cleanup(func() { _, _ = ag.stop(15 * time.Second) })
	waitShadowAlert(t, ag, tag)

	pidCopies := func() map[string]bool {
		m := map[string]bool{}
		for _, l := range e2e.ReadAuditState(t).Rules {
			if strings.Contains(l, "path=/proc/") {
				m[l] = true
			}
		}
		return m
	}
	before := pidCopies()
	name := prefix + "onecopy-" + tag
	id, err := startBox(t, name, e2e.TestImage, nil, []string{"sleep", "600"})
	if err != nil {
		t.Fatal(err)
	}
	// Events of the container: its start, and a read of a watched file.
	since := time.Now()
	if out, err := execIn(name, nil, []string{"cat", "/etc/shadow"}); err != nil {
		t.Fatalf("docker exec cat: %v\n%s", err, out)
	}
	if ag.waitFor(since, 10*time.Second, func(a *alert) bool { return a.Rule == shadowRule && a.get("container.id") == id }) == nil {
		ag.logTail(t)
		logAuditRules(t)
		t.Fatalf("no %q alert for %s", shadowRule, name)
	}
	// The container's event requests are handled beside the path, and one
	// whose root was not ready is retried 250 ms later.
	time.Sleep(time.Second)
	var added []string
	for l := range pidCopies() {
		if !before[l] {
			added = append(added, l)
		}
	}
	if len(added) > 0 {
		logAuditRules(t)
		t.Errorf("copies rooted at a process of the container beside those made at its mount:\n%s", strings.Join(added, "\n"))
	}
}
