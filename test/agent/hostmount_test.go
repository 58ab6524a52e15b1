package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/test/e2e"
)

// execEvent is the part of a `ruled events` line these tests read.
type execEvent struct {
	Evt struct {
		Type string `json:"type"`
	} `json:"evt"`
	Proc struct {
		PID      int      `json:"pid"`
		Name     string   `json:"name"`
		Args     []string `json:"args"`
		PCmdline string   `json:"pcmdline"`
	} `json:"proc"`
	Container struct {
		ID string `json:"id"`
	} `json:"container"`
	NS struct {
		Mnt uint64 `json:"mnt"`
	} `json:"ns"`
}

// waitExec waits for an exec event that match accepts.
func waitExec(t *testing.T, a *e2e.Agent, d time.Duration, what string, match func(execEvent) bool) execEvent {
	t.Helper()
	ev, ok := findExec(a, d, match)
	if !ok {
		t.Fatalf("no exec event of %s within %v (running %v, %d lines); log:\n%s", what, d, a.Running(), len(a.Lines()), a.Log())
	}
	return ev
}

// findExec waits up to d for an exec event that match accepts.
func findExec(a *e2e.Agent, d time.Duration, match func(execEvent) bool) (execEvent, bool) {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		for _, l := range a.Lines() {
			var ev execEvent
			if json.Unmarshal(l, &ev) == nil && ev.Evt.Type == "execve" && match(ev) {
				return ev, true
			}
		}
		if !a.Running() || time.Now().After(deadline) {
			return execEvent{}, false
		}
	}
}

// TestHostMountNamespaceContainerID: the proc connector's exec thread reads
// no cgroup for a process in the host's mount namespace. A shell that a
// privileged --pid=host container runs in the host's mount namespace
// (nsenter -t 1 -m) stays in that container, as its cgroup says, and so
// does its child; a host process in a mount namespace of its own (unshare
// -m) has its cgroup read: the host.
func TestHostMountNamespaceContainerID(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)
	hostMnt := procfs.HostMountNS(procfs.Dir("/proc"))
	if hostMnt == 0 {
		t.Fatal("the host's mount namespace could not be read")
	}

	a := e2e.StartAgent(t, bin, nil, "events", "-sources", "procconn", "-filter", "evt.type = execve")
	// Ready once it reports an exec.
	ready := fmt.Sprintf("ruled-hostmnt-ready-%d", os.Getpid())
	for deadline := time.Now().Add(20 * time.Second); ; {
		_ = exec.Command("/bin/sh", "-c", "true "+ready).Run()
		if _, ok := findExec(a, 200*time.Millisecond, func(ev execEvent) bool { return strings.Contains(strings.Join(ev.Proc.Args, " "), ready) }); ok {
			break
		}
		if !a.Running() || time.Now().After(deadline) {
			t.Fatalf("ruled events reported no exec within 20 s; log:\n%s", a.Log())
		}
	}

	name := fmt.Sprintf("ruled-cgroup-hostmnt-%d", os.Getpid())
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	// test/setup.sh's runc wrapper: a privileged container asks for every
	// capability, and a VM's init may withhold some.
	id := e2e.Docker(t, "run", "-d", "--name", name, "--runtime=ruled-test-runc", "--privileged", "--pid=host", "--network", "none",
		e2e.TestImage, "sleep", "60")

	// The escape: the host's /bin/sh and cat, in the host's mount
	// namespace, from the container's nsenter. The trailing echo keeps
	// the shell from exec'ing cat itself, so cat is its child.
	marker := fmt.Sprintf("ruled-hostmnt-%d", os.Getpid())
	// Into init's mount namespace, or kthreadd's, the same, where init
	// refuses access to its links (this VM's does).
	target := "1"
	if _, err := os.Readlink("/proc/1/ns/mnt"); err != nil {
		target = "2"
	}
	if out, err := exec.Command("docker", "exec", name, "nsenter", "-t", target, "-m", "--",
		"/bin/sh", "-c", "cat /etc/hostname; echo "+marker).CombinedOutput(); err != nil {
		t.Fatalf("docker exec nsenter: %v\n%s", err, out)
	}
	cat := waitExec(t, a, 10*time.Second, "the escaped cat", func(ev execEvent) bool {
		return ev.Proc.Name == "cat" && strings.Contains(ev.Proc.PCmdline, marker)
	})
	if cat.Container.ID != id || cat.NS.Mnt != hostMnt {
		t.Errorf("escaped cat (pid %d): container.id %q ns.mnt %d; want the container's %q in the host's mount namespace %d",
			cat.Proc.PID, cat.Container.ID, cat.NS.Mnt, id, hostMnt)
	}
	sh := waitExec(t, a, 10*time.Second, "the escaped shell", func(ev execEvent) bool {
		return ev.Proc.Name == "sh" && strings.Contains(strings.Join(ev.Proc.Args, " "), marker)
	})
	if sh.Container.ID != id || sh.NS.Mnt != hostMnt {
		t.Errorf("escaped sh (pid %d): container.id %q ns.mnt %d; want %q, %d", sh.Proc.PID, sh.Container.ID, sh.NS.Mnt, id, hostMnt)
	}
	nsenter := waitExec(t, a, 10*time.Second, "nsenter", func(ev execEvent) bool {
		return ev.Proc.Name == "nsenter" && ev.Proc.PID == sh.Proc.PID
	})
	if nsenter.Container.ID != id || nsenter.NS.Mnt == hostMnt || nsenter.NS.Mnt == 0 {
		t.Errorf("nsenter: container.id %q ns.mnt %d; want %q in the container's mount namespace", nsenter.Container.ID, nsenter.NS.Mnt, id)
	}

	// A host process in a mount namespace of its own: its cgroup is read.
	umarker := fmt.Sprintf("ruled-hostmnt-unshare-%d", os.Getpid())
	if out, err := exec.Command("unshare", "-m", "--", "/bin/sh", "-c", "cat /proc/self/cgroup >/dev/null; echo "+umarker).CombinedOutput(); err != nil {
		t.Fatalf("unshare -m: %v\n%s", err, out)
	}
	ucat := waitExec(t, a, 10*time.Second, "the unshared cat", func(ev execEvent) bool {
		return ev.Proc.Name == "cat" && strings.Contains(ev.Proc.PCmdline, umarker)
	})
	if ucat.Container.ID != "host" || ucat.NS.Mnt == hostMnt || ucat.NS.Mnt == 0 {
		t.Errorf("unshared cat (pid %d): container.id %q ns.mnt %d; want host, in a mount namespace other than %d",
			ucat.Proc.PID, ucat.Container.ID, ucat.NS.Mnt, hostMnt)
	}
	if code, err := a.Stop(20 * time.Second); code != 0 || err != nil {
		t.Errorf("ruled events exit after SIGTERM: %d, %v", code, err)
	}
}
