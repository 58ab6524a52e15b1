package proctable

import (
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// The host's mount namespace in the fake /proc (pid 1's) and a container's.
const (
	hostMntNS = 4026531832
	ctrMntNS  = 4026532500
)

// pcExecIn is a proc connector exec whose exec thread read mount namespace
// mnt and, it being the host's, no cgroup.
func pcExecIn(pid, mnt int) *event.Event {
	ev := pcEv(event.TypeExecve, pid, 0)
	ev.NS.Mnt = mnt
	return ev
}

// hostMountTable is base() plus a container's shell, pid 500 (container
// c1), whose cgroup the resolver reads; it counts the resolver's reads of
// every other pid.
func hostMountTable(t *testing.T) (*Table, *fakeProc, map[int]int) {
	t.Helper()
	f := base()
	f.add(fp{pid: 500, ppid: 1, comm: "sh", exe: "/bin/sh", args: []string{"sh"}, mnt: ctrMntNS})
	reads := map[int]int{}
	tb := newTable(t, f, &clock{t: time.Unix(1000, 0)}, 0)
	tb.SetContainerResolver(func(pid int) string {
		reads[pid]++
		if pid == 500 || pid == 510 {
			return "c1"
		}
		return event.HostID
	})
	tb.Observe(pcEv(event.TypeFork, 500, 1))
	tb.Observe(pcExecIn(500, 0)) // read as a container's exec was before
	if p, _ := tb.Get(500); p.ContainerID != "c1" {
		t.Fatalf("container shell: %q", p.ContainerID)
	}
	return tb, f, reads
}

func TestInitMountNS(t *testing.T) {
	tb, _, _ := hostMountTable(t)
	if tb.InitMountNS() != hostMntNS {
		t.Errorf("InitMountNS %d, want pid 1's %d", tb.InitMountNS(), hostMntNS)
	}
}

// A host process's exec in the host's mount namespace reads no cgroup and
// is on the host; the namespace comes from the event, not a second read.
func TestHostMountExecIsHostWithoutCgroup(t *testing.T) {
	tb, f, reads := hostMountTable(t)
	f.add(fp{pid: 300, ppid: 200, comm: "id", exe: "/usr/bin/id", args: []string{"id"}})
	delete(f.fs, "300/ns/mnt") // carried by the event
	tb.Observe(pcEv(event.TypeFork, 300, 200))
	tb.Observe(pcExecIn(300, hostMntNS))
	p, _ := tb.Get(300)
	if p.ContainerID != event.HostID || reads[300] != 0 || p.NS.Mnt != hostMntNS || !p.mntHost {
		t.Errorf("host exec: container %q, %d cgroup reads, mnt %d, mntHost %v; want host, 0, %d, true",
			p.ContainerID, reads[300], p.NS.Mnt, p.mntHost, hostMntNS)
	}
	ev := pcEv(event.TypeOpen, 300, 0)
	ev.NS.Mnt = hostMntNS
	tb.Enrich(ev)
	if ev.NS.PID == 0 || ev.NS.Net == 0 || ev.NS.Mnt != hostMntNS {
		t.Errorf("enriched namespaces %+v: the table's pid and net with the event's mnt", ev.NS)
	}
}

// nsenter -t 1 -m from a container: the shell it execs and that shell's
// child run in the host's mount namespace and keep the container (as their
// cgroup would say), with no cgroup read.
func TestHostMountEscapeKeepsContainer(t *testing.T) {
	tb, f, reads := hostMountTable(t)
	f.add(fp{pid: 501, ppid: 500, comm: "sh", exe: "/bin/sh", args: []string{"/bin/sh", "-c", "cat /etc/hostname"}})
	tb.Observe(pcEv(event.TypeFork, 501, 500))
	tb.Observe(pcExecIn(501, hostMntNS))
	f.add(fp{pid: 502, ppid: 501, comm: "cat", exe: "/bin/cat", args: []string{"cat", "/etc/hostname"}})
	tb.Observe(pcEv(event.TypeFork, 502, 501))
	tb.Observe(pcExecIn(502, hostMntNS))
	for _, pid := range []int{501, 502} {
		if p, _ := tb.Get(pid); p.ContainerID != "c1" || reads[pid] != 0 {
			t.Errorf("pid %d: container %q, %d cgroup reads; want c1, 0", pid, p.ContainerID, reads[pid])
		}
	}
	// Gone before the table's read: the same decision.
	tb.Observe(pcEv(event.TypeFork, 503, 501))
	tb.Observe(pcExecIn(503, hostMntNS))
	if p, _ := tb.Get(503); p.ContainerID != "c1" || !p.Partial {
		t.Errorf("gone escaped child: container %q partial %v; want c1", p.ContainerID, p.Partial)
	}
}

// Another mount namespace than the host's: the cgroup decides, as before,
// whether the exec thread read it (the event's id) or the table reads it.
func TestOtherMountNamespaceReadsCgroup(t *testing.T) {
	tb, f, reads := hostMountTable(t)
	f.add(fp{pid: 510, ppid: 500, comm: "ls", exe: "/bin/ls", args: []string{"ls"}, mnt: ctrMntNS})
	tb.Observe(pcEv(event.TypeFork, 510, 500))
	tb.Observe(pcExecIn(510, ctrMntNS)) // the exec thread's read failed
	if p, _ := tb.Get(510); p.ContainerID != "c1" || reads[510] != 1 || p.mntHost {
		t.Errorf("container exec: container %q, %d cgroup reads, mntHost %v; want c1, 1, false", p.ContainerID, reads[510], p.mntHost)
	}
	// A host process unshare -m'd into a mount namespace of its own: its
	// cgroup (the host) decides, not its kin.
	f.add(fp{pid: 520, ppid: 500, comm: "cat", exe: "/bin/cat", args: []string{"cat"}, mnt: ctrMntNS + 1})
	tb.Observe(pcEv(event.TypeFork, 520, 500))
	ex := pcExecIn(520, ctrMntNS+1)
	ex.Container.ID = event.HostID // read by the exec thread
	tb.Observe(ex)
	if p, _ := tb.Get(520); p.ContainerID != event.HostID || reads[520] != 0 {
		t.Errorf("own mount namespace: container %q, %d cgroup reads; want the exec's host, 0", p.ContainerID, reads[520])
	}
	// No namespace carried (a source without HostMountNS, or audit):
	// the table reads the cgroup.
	f.add(fp{pid: 530, ppid: 500, comm: "id", exe: "/usr/bin/id", args: []string{"id"}})
	tb.Observe(pcEv(event.TypeFork, 530, 500))
	tb.Observe(pcExecIn(530, 0))
	if p, _ := tb.Get(530); p.ContainerID != event.HostID || reads[530] != 1 {
		t.Errorf("no namespace carried: container %q, %d cgroup reads; want host from the cgroup, 1", p.ContainerID, reads[530])
	}
}

// An exec in the host's mount namespace met before its fork (the fork lost
// or late), gone from /proc: no parent known, it is on the host until its
// fork names a container parent, which then gives it that container.
func TestHostMountExecBeforeForkCompletedByFork(t *testing.T) {
	tb, _, _ := hostMountTable(t)
	tb.Observe(pcExecIn(601, hostMntNS))
	if p, _ := tb.Get(601); p.ContainerID != event.HostID {
		t.Fatalf("before its fork: container %q, want host", p.ContainerID)
	}
	tb.Observe(pcEv(event.TypeFork, 601, 500))
	if p, _ := tb.Get(601); p.ContainerID != "c1" || p.PPID != 500 {
		t.Errorf("after its fork: container %q ppid %d; want c1, 500", p.ContainerID, p.PPID)
	}
	// A host parent's fork leaves it on the host.
	tb.Observe(pcExecIn(602, hostMntNS))
	tb.Observe(pcEv(event.TypeFork, 602, 200))
	if p, _ := tb.Get(602); p.ContainerID != event.HostID {
		t.Errorf("host parent: container %q, want host", p.ContainerID)
	}
}

// A pid reused while the exited container process that had it lingers: the
// new process's exec in the host's mount namespace does not take the old
// entry's container.
func TestHostMountExecIgnoresExitedEntry(t *testing.T) {
	tb, f, _ := hostMountTable(t)
	tb.Observe(pcEv(event.TypeFork, 700, 500))
	tb.Observe(pcEv(event.TypeExit, 700, 500))
	f.add(fp{pid: 700, ppid: 200, comm: "id", exe: "/usr/bin/id", args: []string{"id"}})
	tb.Observe(pcExecIn(700, hostMntNS)) // its fork lost
	if p, _ := tb.Get(700); p.ContainerID != event.HostID {
		t.Errorf("reused pid: container %q, want host (its parent, bash)", p.ContainerID)
	}
}

// auditExec is audit's record of an exec of pid, child of ppid.
func auditExec(pid, ppid int, exe string, args ...string) *event.Event {
	ev := &event.Event{}
	ev.Evt.Type, ev.Evt.Source, ev.Evt.Success = event.TypeExecve, event.SourceAudit, true
	ev.Proc.PID, ev.Proc.PPID, ev.Proc.Exe, ev.Proc.Args = pid, ppid, exe, args
	ev.Proc.Name = args[0]
	return ev
}

// Audit's record of an exec observed before the proc connector's report:
// with the proc connector running (SetHostMountRule) the table reads its
// mount namespace first and no cgroup in the host's, the same rule as the
// exec thread's; with audit alone the cgroup is read, as before.
func TestAuditFirstHostMountRule(t *testing.T) {
	tb, f, reads := hostMountTable(t)
	tb.SetHostMountRule(true)
	// The escaped shell (its exec reported by the proc connector), then
	// its child's exec reported by audit first.
	f.add(fp{pid: 800, ppid: 500, comm: "sh", exe: "/bin/sh", args: []string{"sh"}})
	tb.Observe(pcEv(event.TypeFork, 800, 500))
	tb.Observe(pcExecIn(800, hostMntNS))
	f.add(fp{pid: 801, ppid: 800, comm: "cat", exe: "/bin/cat", args: []string{"cat"}})
	tb.Observe(pcEv(event.TypeFork, 801, 800))
	tb.Observe(auditExec(801, 800, "/bin/cat", "cat"))
	if p, _ := tb.Get(801); p.ContainerID != "c1" || reads[801] != 0 || p.NS.Mnt != hostMntNS {
		t.Errorf("escaped, audit first: container %q, %d cgroup reads, mnt %d; want c1, 0, %d", p.ContainerID, reads[801], p.NS.Mnt, hostMntNS)
	}
	// A host process's child, audit first.
	f.add(fp{pid: 805, ppid: 200, comm: "id", exe: "/usr/bin/id", args: []string{"id"}})
	tb.Observe(pcEv(event.TypeFork, 805, 200))
	tb.Observe(auditExec(805, 200, "/usr/bin/id", "id"))
	if p, _ := tb.Get(805); p.ContainerID != event.HostID || reads[805] != 0 {
		t.Errorf("host, audit first: container %q, %d cgroup reads; want host, 0", p.ContainerID, reads[805])
	}
	f.add(fp{pid: 810, ppid: 500, comm: "ls", exe: "/bin/ls", args: []string{"ls"}, mnt: ctrMntNS})
	tb.Observe(pcEv(event.TypeFork, 810, 500))
	lx := auditExec(810, 500, "/bin/ls", "ls")
	tb.Observe(lx)
	if p, _ := tb.Get(810); p.ContainerID != event.HostID || reads[810] != 1 || p.NS.Mnt != ctrMntNS || lx.NS.Mnt != 0 {
		t.Errorf("container's mount namespace, audit first: container %q, %d cgroup reads, mnt %d, event mnt %d; want the cgroup's host, 1, %d, 0 (no readlink before the read)",
			p.ContainerID, reads[810], p.NS.Mnt, lx.NS.Mnt, ctrMntNS)
	}
	tb.SetHostMountRule(false)
	f.add(fp{pid: 820, ppid: 200, comm: "id", exe: "/usr/bin/id", args: []string{"id"}})
	tb.Observe(pcEv(event.TypeFork, 820, 200))
	ex := auditExec(820, 200, "/usr/bin/id", "id")
	tb.Observe(ex)
	if p, _ := tb.Get(820); p.ContainerID != event.HostID || reads[820] != 1 || ex.NS.Mnt != 0 {
		t.Errorf("audit alone: container %q, %d cgroup reads, event mnt %d; want host, 1, 0", p.ContainerID, reads[820], ex.NS.Mnt)
	}
}

// A container process's standard descriptors read by the exec thread as
// it received the exec are the exec's: /proc now shows the socket the new
// program dup2'd onto fd 0 since (busybox nc -e), the exec keeps its pipe,
// and a socket carried is resolved like one read.
func TestExecCarriesStdioAtExec(t *testing.T) {
	tb, f, _ := hostMountTable(t)
	var asked []uint64
	tb.SetStdioResolver(func(pid, fd int, inode uint64, s *event.Stdio) {
		asked = append(asked, inode)
		s.L4Proto = "tcp"
	})
	f.add(fp{pid: 330, ppid: 500, comm: "nc", exe: "/bin/nc", args: []string{"nc", "-e", "/bin/sh"}, mnt: ctrMntNS, stdin: "socket:[4242]"})
	tb.Observe(pcEv(event.TypeFork, 330, 500))
	ev := pcExecIn(330, ctrMntNS)
	ev.Container.ID = "c1"
	ev.Proc.Stdin = event.Stdio{Type: event.StdioPipe, Name: "pipe:[77]"}
	ev.Proc.Stdout = event.Stdio{Type: event.StdioSocket, Name: "socket:[88]"}
	ev.Proc.Stderr = event.Stdio{Type: event.StdioNone}
	tb.Observe(ev)
	p, _ := tb.Get(330)
	if p.Stdio[0].Type != event.StdioPipe || p.StdioInodes[0] != 77 || p.Stdio[1].L4Proto != "tcp" || p.StdioInodes[1] != 88 || p.Stdio[2].Type != event.StdioNone {
		t.Errorf("stdio %+v inodes %v: want the exec's pipe, its resolved socket 88 and none", p.Stdio, p.StdioInodes)
	}
	if len(asked) != 1 || asked[0] != 88 {
		t.Errorf("resolver asked about %v, want [88] (the carried socket, not /proc's 4242)", asked)
	}
	if ev.Proc.Stdin.Type != event.StdioPipe || ev.Proc.Stdout.L4Proto != "tcp" {
		t.Errorf("the exec event's stdio %+v / %+v: want the table's, resolved", ev.Proc.Stdin, ev.Proc.Stdout)
	}
}
