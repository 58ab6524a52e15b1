package docker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/test/e2e"
)

// benchContainer starts a container for a benchmark and removes it after.
func benchContainer(b *testing.B) ctr {
	b.Helper()
	var c ctr
	out, err := runDocker("run", "-d", "--network", "none", e2e.TestImage, "sleep", "300")
	if err != nil {
		b.Fatalf("docker run: %v\n%s", err, out)
	}
	c.ID = trim(out)
	b.Cleanup(func() { _, _ = runDocker("rm", "-f", c.ID) })
	out, err = runDocker("inspect", "-f", "{{.State.Pid}}", c.ID)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := fmt.Sscan(trim(out), &c.PID); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkLookupCold is a first sight of a container: read and parse
// /proc/PID/cgroup, then GET /containers/{id}/json from the real daemon.
func BenchmarkLookupCold(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root and Docker")
	}
	c := benchContainer(b)
	d := container.NewDocker(container.DefaultDockerSocket)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := container.NewResolver(container.Config{Runtime: d})
		ref, err := r.Ref(c.PID)
		if err != nil || ref.ID != c.ID {
			b.Fatalf("Ref = %+v, %v", ref, err)
		}
		if _, err := r.Lookup(ctx, ref.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnrichLivePID is the steady state on the event path for a
// process the table reads: /proc/PID/cgroup read and parse (the table's
// clue for container.Decide) plus the resolver's cache hit.
func BenchmarkEnrichLivePID(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root and Docker")
	}
	c := benchContainer(b)
	r := container.NewResolver(container.Config{Runtime: container.NewDocker(container.DefaultDockerSocket)})
	if _, err := r.Lookup(context.Background(), c.ID); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ev := event.Event{Proc: event.Proc{PID: c.PID}}
		ev.Container.ID = r.ContainerID(c.PID)
		r.Enrich(&ev)
		if ev.Container.Name == "" {
			b.Fatal("no name")
		}
	}
}

func runDocker(args ...string) ([]byte, error) {
	return exec.Command("docker", args...).CombinedOutput()
}

func trim(b []byte) string { return strings.TrimSpace(string(b)) }
