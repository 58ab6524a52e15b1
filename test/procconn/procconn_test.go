package procconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/enrichers/proctable"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/procconn"
	"github.com/ruled/ruled/test/e2e"
)

// harness runs the proc connector into the process table, the way the
// agent's pipeline does: Observe on arrival, Enrich, then record.
type harness struct {
	src   *procconn.Source
	table *proctable.Table

	mu     sync.Mutex
	events []*event.Event
	cond   *sync.Cond
}

func start(t testing.TB, keep func(*event.Event) bool) *harness {
	t.Helper()
	h := &harness{table: proctable.New(proctable.Config{})}
	h.cond = sync.NewCond(&h.mu)
	h.src = procconn.New(procconn.Config{Resync: h.table.Resync})
	if err := h.table.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- h.src.Run(ctx, func(ev *event.Event) {
			h.table.Observe(ev)
			h.table.Enrich(ev)
			// Forks of this test process are always kept: start waits on them.
			mine := ev.Evt.Type == event.TypeFork && ev.Proc.PPID == os.Getpid()
			if keep != nil && !keep(ev) && !mine {
				return
			}
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.cond.Broadcast()
			h.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("source: %v", err)
		}
	})
	// The subscription is asynchronous: wait until our own fork shows up.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		cmd := exec.Command("/bin/true")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		if h.wait(func(ev *event.Event) bool { return ev.Proc.PID == cmd.Process.Pid }, 200*time.Millisecond) != nil {
			return h
		}
	}
	t.Fatal("proc connector delivered nothing within 5 s")
	return nil
}

// wait returns the first recorded event matching f, waiting up to d.
func (h *harness) wait(f func(*event.Event) bool, d time.Duration) *event.Event {
	deadline := time.Now().Add(d)
	timer := time.AfterFunc(d, func() {
		h.mu.Lock()
		h.cond.Broadcast()
		h.mu.Unlock()
	})
	defer timer.Stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		for _, ev := range h.events {
			if f(ev) {
				return ev
			}
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		h.cond.Wait()
	}
}

func selfComm(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestAncestry: sleep started by sh started by sh started by this test has
// anames [sh, sh, <test binary>, ...]. The trailing "; true" stops the
// shells from exec'ing their last command in place.
func TestAncestry(t *testing.T) {
	e2e.RequireRoot(t)
	h := start(t, nil)
	cmd := exec.Command("/bin/sh", "-c", `/bin/sh -c "/bin/sleep 1; true"; true`)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	ev := h.wait(func(ev *event.Event) bool {
		return ev.Evt.Type == event.TypeExecve && ev.Proc.Name == "sleep" && len(ev.Proc.ANames) >= 3 &&
			ev.Proc.ANames[2] == selfComm(t)
	}, 3*time.Second)
	if ev == nil {
		t.Fatalf("no execve of sleep under this test; events:\n%s", h.dump(func(ev *event.Event) bool { return ev.Proc.Name == "sleep" }))
	}
	if got := ev.Proc.ANames[:2]; got[0] != "sh" || got[1] != "sh" {
		t.Errorf("anames %q, want [sh sh %s ...]", ev.Proc.ANames, selfComm(t))
	}
	if ev.Proc.Exe != "/usr/bin/sleep" && ev.Proc.Exe != "/bin/sleep" {
		t.Errorf("exe %q", ev.Proc.Exe)
	}
	if ev.Proc.Cmdline != "/bin/sleep 1" || ev.Proc.PName != "sh" {
		t.Errorf("cmdline %q pname %q", ev.Proc.Cmdline, ev.Proc.PName)
	}
	if ev.Evt.Source != event.SourceProcconn || ev.Container.ID != "" && ev.Container.ID != event.HostID {
		t.Errorf("source %q container %q", ev.Evt.Source, ev.Container.ID)
	}
	if d := time.Since(ev.Evt.Time); d < 0 || d > time.Minute {
		t.Errorf("event time %v is %v from now", ev.Evt.Time, d)
	}
}

func (h *harness) dump(f func(*event.Event) bool) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, ev := range h.events {
		if f(ev) {
			fmt.Fprintf(&b, "%s pid=%d ppid=%d name=%q exe=%q anames=%q\n", ev.Evt.Type, ev.Proc.PID, ev.Proc.PPID, ev.Proc.Name, ev.Proc.Exe, ev.Proc.ANames)
		}
	}
	return b.String()
}

// TestShortLived: a process that exits at once still yields its fork, exec
// and exit, the exit with its status.
func TestShortLived(t *testing.T) {
	e2e.RequireRoot(t)
	h := start(t, nil)
	cmd := exec.Command("/bin/sh", "-c", "exit 7")
	_ = cmd.Run()
	pid := cmd.Process.Pid
	for _, typ := range []string{event.TypeFork, event.TypeExecve, event.TypeExit} {
		ev := h.wait(func(ev *event.Event) bool { return ev.Proc.PID == pid && ev.Evt.Type == typ }, 3*time.Second)
		if ev == nil {
			t.Errorf("no %s event for pid %d", typ, pid)
			continue
		}
		if ev.Proc.PPID != os.Getpid() {
			t.Errorf("%s: ppid %d, want %d", typ, ev.Proc.PPID, os.Getpid())
		}
		switch typ {
		case event.TypeExit:
			if ev.Evt.Res != 7 {
				t.Errorf("exit res %d, want 7", ev.Evt.Res)
			}
			if ev.Proc.PName != selfComm(t) {
				t.Errorf("exit pname %q", ev.Proc.PName)
			}
		case event.TypeExecve:
			// /proc may already be empty: then name and exe stay empty
			// rather than showing the parent's.
			if ev.Proc.Name != "" && ev.Proc.Name != "sh" {
				t.Errorf("exec name %q, want sh or unknown", ev.Proc.Name)
			}
			t.Logf("exec of a short process: name=%q exe=%q", ev.Proc.Name, ev.Proc.Exe)
		}
	}
}

// TestExecFlood: 5,000 quick fork+exec of /bin/true from one spawner yield
// 5,000 exec events, or a loss the source reports: never a silent gap.
func TestExecFlood(t *testing.T) {
	e2e.RequireRoot(t)
	const n = 5000
	var mu sync.Mutex
	var spawner int
	children := map[int]bool{}
	execs := 0
	keep := func(ev *event.Event) bool {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Evt.Type == event.TypeFork && spawner != 0 && ev.Proc.PPID == spawner:
			children[ev.Proc.PID] = true
		case ev.Evt.Type == event.TypeExecve && children[ev.Proc.PID]:
			execs++
			delete(children, ev.Proc.PID)
		}
		return false
	}
	h := start(t, keep)
	before := h.src.Stats()
	cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf(`read x; i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done`, n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	mu.Lock()
	spawner = cmd.Process.Pid
	mu.Unlock()
	stdin.Write([]byte("go\n")) // spawner known: start forking
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	var got int
	var lost uint64
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		got = execs
		mu.Unlock()
		lost = h.src.Stats().Lost - before.Lost
		if got == n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := h.src.Stats()
	t.Logf("exec events %d of %d; lost %d, overruns %d, received %d", got, n, lost, st.Overruns-before.Overruns, st.Received-before.Received)
	if got > n {
		t.Fatalf("%d exec events for %d execs", got, n)
	}
	if got < n && lost == 0 {
		t.Fatalf("silent gap: %d exec events of %d and no loss reported", got, n)
	}
}

// TestPS: `ruled ps` shows a container's process with its container id and
// host processes as host.
func TestPS(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)
	out, err := exec.Command("docker", "run", "-d", "--rm", "--network", "none", e2e.TestImage, "sleep", "60").Output()
	if err != nil {
		t.Fatalf("docker run: %v", err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	pidOut, err := exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", id).Output()
	if err != nil {
		t.Fatal(err)
	}
	cpid := strings.TrimSpace(string(pidOut))

	js, err := exec.Command(bin, "ps", "-json").Output()
	if err != nil {
		t.Fatalf("ruled ps -json: %v", err)
	}
	rows := map[string]map[string]any{}
	for line := range bytes.Lines(js) {
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		rows[fmt.Sprint(r["pid"])] = r
	}
	c := rows[cpid]
	if c == nil {
		t.Fatalf("container process %s not listed", cpid)
	}
	if c["container_id"] != id || c["cmdline"] != "sleep 60" || c["user"] != "root" {
		t.Errorf("container row %v, want container_id %s", c, id)
	}
	self := rows[fmt.Sprint(os.Getpid())]
	if self == nil || self["container_id"] != event.HostID {
		t.Errorf("this test's row %v, want container_id host", self)
	}
	table, err := exec.Command(bin, "ps").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(table, []byte(id[:12])) || !bytes.HasPrefix(table, []byte("PID")) {
		t.Errorf("table output lacks the header or short id %s", id[:12])
	}
}
