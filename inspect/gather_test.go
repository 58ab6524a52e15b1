package inspect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestGatherProcOnly runs Gather over a recorded /proc without a runtime:
// the container is found by id prefix and by pid, and every key is filled
// from /proc and the cgroup.
func TestGatherProcOnly(t *testing.T) {
	opt := Options{ProcRoot: "testdata/proc", CgroupRoot: "testdata/cgroup", AlertFiles: []string{"testdata/alerts/alerts.json"}}
	for _, target := range []string{"1c033df", "120", webID} {
		t.Run(target, func(t *testing.T) {
			r, err := Gather(context.Background(), target, opt)
			if err != nil {
				t.Fatal(err)
			}
			c := r.Container
			if c.ID != webID || c.From != "proc" || c.Runtime != "docker" || c.InitPID != 100 || c.State != "paused" ||
				c.PIDNamespace != 4026532181 || c.NetNamespace != 4026532184 || c.Privileged != nil || !slices.Contains(c.CapEffective, "NET_RAW") {
				t.Errorf("container %+v", c)
			}
			// 2025-12-04T16:00:00Z boot + 10 s (1000 ticks).
			if got := c.Started.UTC().Format("15:04:05"); got != "16:00:10" {
				t.Errorf("started %v", c.Started)
			}
			var tree []string
			for _, p := range r.Processes {
				tree = append(tree, strings.Repeat(" ", p.Depth)+p.Cmdline)
			}
			if want := []string{"sleep 1000", " nc -l -p 4444", " /bin/sh"}; !slices.Equal(tree, want) {
				t.Errorf("tree %q, want %q", tree, want)
			}
			sh := r.Processes[2]
			if sh.VPID != 10 || sh.Stdin == nil || sh.Stdin.RPort != 4444 || sh.Stdin.L4Proto != "tcp" || sh.Stderr != nil {
				t.Errorf("shell %+v stdin %+v", sh, sh.Stdin)
			}
			var conn []string
			for _, s := range r.Sockets {
				conn = append(conn, fmt.Sprintf("%s %s %s %s %d", s.Proto, s.State, s.Local, s.Remote, s.PID))
			}
			want := []string{
				"tcp ESTABLISHED 127.0.0.1:43798 127.0.0.1:4444 120",
				"tcp LISTEN 127.0.0.11:40031 0.0.0.0:0 0",
				"tcp6 ESTABLISHED 127.0.0.1:4444 127.0.0.1:43798 110",
			}
			if !slices.Equal(conn, want) {
				t.Errorf("sockets\n%q\nwant\n%q", conn, want)
			}
			if len(r.Packages) != 2 || r.Packages[0].Name != "base-files" {
				t.Errorf("packages %+v", r.Packages)
			}
			var sens []string
			for _, m := range r.Mounts {
				if m.Sensitive {
					sens = append(sens, m.Destination)
				}
			}
			if !slices.Equal(sens, []string{"/host/etc", "/var/run/docker.sock"}) {
				t.Errorf("sensitive mounts %q", sens)
			}
			if len(r.Alerts) != 2 {
				t.Errorf("alerts %+v", r.Alerts)
			}
			// The upper dir of the recording is not on this machine: a note,
			// not a failure.
			if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.HasPrefix(n, "changes:") }) {
				t.Errorf("notes %q", r.Notes)
			}
		})
	}
}

func TestGatherNoContainer(t *testing.T) {
	opt := Options{ProcRoot: "testdata/proc"}
	for target, want := range map[string]string{
		"1":         "host process",
		"127.0.0.1": "every container",
		"ffff":      "no container matches",
		"web":       "no container matches",
		"":          "empty target",
	} {
		_, err := Gather(context.Background(), target, opt)
		if !errors.Is(err, ErrNoContainer) || !strings.Contains(err.Error(), want) {
			t.Errorf("Gather(%q) = %v, want ErrNoContainer with %q", target, err, want)
		}
	}
}
