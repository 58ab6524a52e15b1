package scenarios

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

const driftRule = "Drop and execute new binary in container"

// unlimitedConfig writes an agent config without the per-rule rate limit:
// the stress tests count every alert, more than the default burst of 100.
func unlimitedConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ruled.yaml")
	if err := os.WriteFile(p, []byte("rate_limit: {rate: -1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// dropScript copies busybox into dir as "true" (busybox runs the applet its
// name says) and runs it: a binary the image does not have, written and
// executed.
func dropScript(dir string) string {
	return "mkdir -p " + dir + " && cp /bin/busybox " + dir + "/true && " + dir + "/true"
}

// TestDriftStress: every binary dropped and executed in a container is
// detected, in containers started before the agent (whose processes ruled
// did not see start) and after it. Each drop runs in its own `docker exec`,
// so the exec'd shell, the copy and the dropped binary are all gone within
// milliseconds, before their events are enriched: the race issue 14 found.
func TestDriftStress(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)
	tag := strconv.Itoa(os.Getpid())
	removeStale(t)
	const perPhase, drops = 16, 6 // containers per phase, drops per container

	start := func(phase string) []string {
		ids := make([]string, perPhase)
		var wg sync.WaitGroup
		errs := make([]error, perPhase)
		for i := range perPhase {
			wg.Go(func() {
				ids[i], errs[i] = startBox(t, fmt.Sprintf("%sdrift-%s%d-%s", prefix, phase, i, tag), e2e.TestImage, nil, []string{"sleep", "600"})
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		return ids
	}
	before := start("b")

	e2e.SaveAudit(t)
	ag := startAgent(t, bin, "-output", "json", "-config", unlimitedConfig(t), "-stats-interval", "5s")
	t.Cleanup(func() { _, _ = ag.stop(15 * time.Second) })
	// Live once a drop in a fresh container alerts.
	ready := start("r")[:1]
	readyName := fmt.Sprintf("%sdrift-r0-%s", prefix, tag)
	deadline := time.Now().Add(readyWait)
	for n := 0; ; n++ {
		since := time.Now()
		if out, err := execIn(readyName, nil, sh(dropScript(fmt.Sprintf("/tmp/ready%d", n)))); err != nil {
			t.Fatalf("warm-up drop: %v: %s", err, out)
		}
		if ag.waitFor(since, time.Second, func(a *alert) bool { return a.Rule == driftRule && a.get("container.id") == ready[0] }) != nil {
			break
		}
		if time.Now().After(deadline) || !ag.running() {
			ag.logTail(t)
			t.Fatalf("no drift alert from the warm-up container within %v", readyWait)
		}
	}
	after := start("a")

	type drop struct{ id, name, path string }
	var all []drop
	for phase, ids := range map[string][]string{"b": before, "a": after} {
		for i, id := range ids {
			for k := range drops {
				all = append(all, drop{id, fmt.Sprintf("%sdrift-%s%d-%s", prefix, phase, i, tag), fmt.Sprintf("/tmp/drop%d/true", k)})
			}
		}
	}
	begin := time.Now()
	// One container's drops run in order (the first one in a container
	// started before ruled is the race); containers run in parallel.
	byName := map[string][]drop{}
	for _, d := range all {
		byName[d.name] = append(byName[d.name], d)
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var execErrs []string
	for _, ds := range byName {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			for _, d := range ds {
				if out, err := execIn(d.name, nil, sh(dropScript(path.Dir(d.path)))); err != nil {
					mu.Lock()
					execErrs = append(execErrs, fmt.Sprintf("%s: %v: %s", d.name, err, out))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(execErrs) > 0 {
		t.Fatalf("docker exec failed: %s", strings.Join(execErrs, "; "))
	}

	found := func(d drop) bool {
		for _, a := range ag.snapshot() {
			if a.Rule == driftRule && a.get("container.id") == d.id && a.get("proc.exe") == d.path && !a.recv.Before(begin) {
				return true
			}
		}
		return false
	}
	var missed []string
	wait := time.Now().Add(15 * time.Second)
	for {
		missed = missed[:0]
		for _, d := range all {
			if !found(d) {
				missed = append(missed, d.name+":"+d.path)
			}
		}
		if len(missed) == 0 || time.Now().After(wait) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d drop-and-exec in %d containers (%d started before ruled) in %v: %d detected",
		len(all), 2*perPhase, perPhase, time.Since(begin).Round(time.Millisecond), len(all)-len(missed))
	if len(missed) > 0 {
		ag.logTail(t)
		t.Errorf("%d of %d drop-and-exec not detected: %s", len(missed), len(all), strings.Join(missed, ", "))
	}
}
