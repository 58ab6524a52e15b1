package docker

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/test/e2e"
)

// sockProxy forwards a unix socket to dockerd's. Stopping it looks to the
// resolver exactly like the daemon going away (refused dials, the events
// stream cut), without stopping the dockerd other test packages on this
// machine use at the same time.
type sockProxy struct {
	path, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
	wg           sync.WaitGroup
}

func (p *sockProxy) start(t *testing.T) {
	t.Helper()
	_ = os.Remove(p.path)
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	if p.conns == nil {
		p.conns = map[net.Conn]struct{}{}
	}
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *sockProxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// enrichID enriches an event that already carries a container id, as the
// process table hands it over.
func enrichID(r *container.Resolver, id string) event.Event {
	ev := event.Event{Evt: event.Evt{Type: event.TypeConnect}, Container: event.Container{ID: id}}
	r.Enrich(&ev)
	return ev
}

// The runtime going away does not stop lookups: events keep their ids, names
// already known stay, and names of containers started meanwhile arrive
// once the runtime is back.
func TestRuntimeDownAndBack(t *testing.T) {
	e2e.RequireDocker(t)
	p := &sockProxy{path: filepath.Join(t.TempDir(), "docker.sock"), target: container.DefaultDockerSocket}
	p.start(t)
	t.Cleanup(p.stop)
	r := startResolver(t, container.NewDocker(p.path))

	before := runContainer(t, "sleep 300")
	eventually(t, 10*time.Second, "name before the outage", func() bool { return enrichID(r, before.ID).Container.Name == before.Name })

	p.stop()
	during := runContainer(t, "sleep 300")
	for i := 0; i < 10; i++ {
		start := time.Now()
		ev := enrichID(r, during.ID)
		if d := time.Since(start); d > time.Second {
			t.Errorf("Enrich took %v with the runtime down", d)
		}
		if ev.Container.ID != during.ID || ev.Container.Name != "" {
			t.Fatalf("runtime down: container = %+v, want id only", ev.Container)
		}
		if got := enrichID(r, before.ID).Container.Name; got != before.Name {
			t.Errorf("known name lost during the outage: %q", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.Stats().Failures == 0 {
		t.Error("no failed lookup counted while the runtime was down")
	}
	if _, err := r.Lookup(context.Background(), during.ID); err == nil || errors.Is(err, container.ErrNotFound) {
		t.Errorf("synchronous Lookup with the runtime down: err = %v, want a connection error", err)
	}

	p.start(t)
	eventually(t, 20*time.Second, "name after the runtime is back", func() bool {
		return enrichID(r, during.ID).Container.Name == during.Name
	})
}

// TestDockerdRestart stops the real dockerd. Containers die with it (no
// live-restore here) and every other Docker test on the machine fails
// meanwhile, so it runs only when RULED_E2E_RESTART_DOCKERD=1 on a machine
// of its own; TestRuntimeDownAndBack covers the resolver's side through a
// socket proxy.
func TestDockerdRestart(t *testing.T) {
	d := e2e.RequireDockerdRestart(t)
	dockerdPID := strconv.Itoa(d.PID)
	restart := func() { d.Restart(t) }

	r := startResolver(t, container.NewDocker(container.DefaultDockerSocket))
	c := runContainer(t, "sleep 300")
	eventually(t, 10*time.Second, "name", func() bool { return enrichID(r, c.ID).Container.Name == c.Name })
	if err := exec.Command("kill", "-TERM", dockerdPID).Run(); err != nil {
		t.Fatalf("stop dockerd: %v", err)
	}
	eventually(t, 60*time.Second, "dockerd gone", func() bool { return exec.Command("docker", "info").Run() != nil })
	const unknown = "0000000000000000000000000000000000000000000000000000000000000001"
	if ev := enrichID(r, unknown); ev.Container.ID != unknown || ev.Container.Name != "" {
		t.Errorf("daemon down: %+v", ev.Container)
	}
	if got := enrichID(r, c.ID).Container.Name; got != c.Name {
		t.Errorf("known name lost: %q", got)
	}
	restart()
	c2 := runContainer(t, "sleep 300")
	eventually(t, 30*time.Second, "name after restart", func() bool { return enrichID(r, c2.ID).Container.Name == c2.Name })
}
