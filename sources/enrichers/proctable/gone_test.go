package proctable

import (
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/sources/event"
)

// countFS is a fake /proc that records the names read below it.
type countFS struct {
	fstest.MapFS
	mu    sync.Mutex
	names []string
}

func (c *countFS) note(name string) {
	c.mu.Lock()
	c.names = append(c.names, name)
	c.mu.Unlock()
}

func (c *countFS) Open(name string) (fs.File, error) { c.note(name); return c.MapFS.Open(name) }
func (c *countFS) ReadFile(name string) ([]byte, error) {
	c.note(name)
	return c.MapFS.ReadFile(name)
}
func (c *countFS) ReadLink(name string) (string, error) {
	c.note(name)
	return c.MapFS.ReadLink(name)
}
func (c *countFS) Lstat(name string) (fs.FileInfo, error) { c.note(name); return c.MapFS.Lstat(name) }
func (c *countFS) Stat(name string) (fs.FileInfo, error)  { c.note(name); return c.MapFS.Stat(name) }

// of returns and forgets the names read below pid's directory.
func (c *countFS) of(pid string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.names {
		if strings.HasPrefix(n, pid+"/") || n == pid {
			out = append(out, n)
		}
	}
	c.names = c.names[:0]
	return out
}

// TestGoneProcessReadOnce: a process gone from /proc at the first report
// of its exec (the common case of a short process under load) costs one
// failed read: its cgroup is not read after that read failed, and the
// other report of the same exec, whichever comes second, reads nothing,
// neither /proc nor the cgroup, and still gives the entry what it carries.
func TestGoneProcessReadOnce(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := base()
	cf := &countFS{MapFS: f.fs}
	tb := New(Config{Proc: cf, Passwd: "/nonexistent", Now: c.now})
	resolved := map[int]int{}
	tb.SetContainerResolver(func(pid int) string { resolved[pid]++; return event.HostID })
	if err := tb.Seed(t.Context()); err != nil {
		t.Fatal(err)
	}
	tb.SetHostMountRule(true)
	tb.SetAuditExecs(func() bool { return true })
	tb.SetReadGuide(func(Clue) procfs.Fields { return procfs.FieldEnv | procfs.FieldStdio })
	audit := func(pid int, exe string) *event.Event {
		ev := pcEv(event.TypeExecve, pid, 200)
		ev.Evt.Source = event.SourceAudit
		ev.Proc.Exe, ev.Proc.Args, ev.Proc.Name = exe, []string{exe}, "true"
		return ev
	}
	f.add(fp{pid: 250, ppid: 200, comm: "id"})
	tb.Observe(audit(250, "/usr/bin/id")) // audit's exec records are coming
	cf.of("250")

	// The proc connector's report first (its exec thread found no mount
	// namespace: gone), then audit's record.
	tb.Observe(pcEv(event.TypeFork, 300, 200))
	tb.Observe(pcEv(event.TypeExecve, 300, 0))
	if got := cf.of("300"); len(got) != 1 {
		t.Errorf("report of a gone process read %v; want one failed read", got)
	}
	if resolved[300] != 0 {
		t.Errorf("report of a gone process read its cgroup %d times; want none", resolved[300])
	}
	tb.Observe(audit(300, "/bin/true"))
	if got := cf.of("300"); len(got) != 0 || resolved[300] != 0 {
		t.Errorf("record after the report found the process gone read %v and the cgroup %d times; want nothing", got, resolved[300])
	}
	p, _ := tb.Get(300)
	if !p.Partial || p.Exe != "/bin/true" || p.Name != "true" || p.PPID != 200 || p.ContainerID != event.HostID || p.NS.Mnt != 4026531832 {
		t.Errorf("gone process after both reports: %+v; want partial, audit's executable, its parent's namespaces and container", p)
	}

	// Audit's record first, then the report.
	tb.Observe(pcEv(event.TypeFork, 301, 200))
	tb.Observe(audit(301, "/bin/true"))
	if got := cf.of("301"); len(got) == 0 || len(got) > 2 || resolved[301] != 0 {
		t.Errorf("record of a gone process read %v and the cgroup %d times; want its mount namespace and one failed read", got, resolved[301])
	}
	tb.Observe(pcEv(event.TypeExecve, 301, 0))
	if got := cf.of("301"); len(got) != 0 || resolved[301] != 0 {
		t.Errorf("report after the record found the process gone read %v and the cgroup %d times; want nothing", got, resolved[301])
	}
	if p, _ := tb.Get(301); !p.Partial || p.Exe != "/bin/true" {
		t.Errorf("gone process, record first: %+v; want partial with audit's executable", p)
	}

	// A read that failed otherwise (an unparsable stat) is not "gone":
	// the other report reads again.
	f.fs["302/stat"] = &fstest.MapFile{Data: []byte("garbage")}
	tb.Observe(pcEv(event.TypeFork, 302, 200))
	tb.Observe(pcEv(event.TypeExecve, 302, 0))
	cf.of("302")
	tb.Observe(audit(302, "/bin/true"))
	if got := cf.of("302"); len(got) == 0 {
		t.Errorf("record after a read that failed but did not find the process gone read nothing; want a read")
	}

	// Past twinWait (a reused pid without its fork) the pid is read again.
	c.advance(2 * twinWait)
	f.add(fp{pid: 301, ppid: 200, comm: "sleep", exe: "/bin/sleep", args: []string{"sleep"}})
	before := resolved[301]
	tb.Observe(pcEv(event.TypeExecve, 301, 200))
	if p, _ := tb.Get(301); p.Partial || p.Exe != "/bin/sleep" || resolved[301] != before+1 {
		t.Errorf("later exec of the pid: %+v, cgroup read %d times; want read", p, resolved[301]-before)
	}
}
