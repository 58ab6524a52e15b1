package audit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/audit"
	"github.com/ruled/ruled/sources/sensors/replay"
	"github.com/ruled/ruled/test/e2e"
)

// collector gathers the events a source emits.
type collector struct {
	mu  sync.Mutex
	evs []*event.Event
}

func (c *collector) emit(ev *event.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, ev)
	c.mu.Unlock()
}

// wait returns the first event matching m within d.
func (c *collector) wait(t *testing.T, what string, d time.Duration, m func(*event.Event) bool) *event.Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		c.mu.Lock()
		for _, ev := range c.evs {
			if m(ev) {
				c.mu.Unlock()
				return ev
			}
		}
		n := len(c.evs)
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s event within %v (%d events seen)", what, d, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startSource runs src until the test ends and fails the test if Run
// returns an error. stop cancels it and waits; it is also a Cleanup.
func startSource(t *testing.T, src *audit.Source, c *collector, wantRules bool) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, c.emit) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("audit source Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("audit source did not stop within 10 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(5 * time.Second)
	for src.Stats().Mode == "" || (wantRules && src.Stats().RulesInstalled == 0) {
		select {
		case err := <-done:
			t.Fatalf("audit source ended at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("audit source not started within 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Mode and rules are set before enabling and the receive loop; give
	// them the moment.
	time.Sleep(300 * time.Millisecond)
	return stop
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func nonce() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

func TestUnicastEventsAndShutdown(t *testing.T) {
	e2e.RequireRoot(t)
	if pgrepAuditd() != 0 {
		e2e.Unavailable(t, "an audit daemon is running; unicast needs the role free (test/setup.sh stops auditd)")
	}
	before := saveAudit(t)

	src, err := audit.New(audit.Config{Mode: audit.ModeUnicast}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	stop := startSource(t, src, c, true)
	if m := src.Stats().Mode; m != audit.ModeUnicast {
		t.Fatalf("mode %q", m)
	}
	during := readState(t)
	if during.status["pid"] != strconv.Itoa(os.Getpid()) || during.status["enabled"] != "1" {
		t.Errorf("while running: pid %s enabled %s, want %d 1", during.status["pid"], during.status["enabled"], os.Getpid())
	}
	if bl, _ := strconv.Atoi(during.status["backlog_limit"]); bl < 8192 {
		t.Errorf("backlog_limit %d < 8192", bl)
	}
	if !slices.ContainsFunc(during.rules, func(r string) bool { return strings.Contains(r, "pid!="+strconv.Itoa(os.Getpid())) }) {
		t.Errorf("rules do not exclude ruled's pid:\n%s", strings.Join(during.rules, "\n"))
	}

	n := nonce()
	t.Run("exec", func(t *testing.T) {
		run(t, "/bin/echo", "ruled-e2e-"+n, "two words")
		ev := c.wait(t, "exec", 5*time.Second, func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeExecve && slices.Contains(ev.Proc.Args, "ruled-e2e-"+n)
		})
		if ev.Proc.Exe != "/usr/bin/echo" || ev.Proc.Name != "echo" || !ev.Evt.Success || ev.Evt.Syscall != "execve" ||
			ev.Proc.Cmdline != "/bin/echo ruled-e2e-"+n+" two words" || ev.Proc.PPID != os.Getpid() ||
			!slices.Contains(ev.Evt.Keys, "exec") || ev.Evt.Source != event.SourceAudit {
			t.Errorf("exec event: %+v %+v", ev.Evt, ev.Proc)
		}
	})
	t.Run("connect to loopback listener", func(t *testing.T) {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			if conn, err := ln.Accept(); err == nil {
				conn.Close()
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		run(t, "perl", "-MSocket", "-e", fmt.Sprintf(`socket(S,PF_INET,SOCK_STREAM,0) or die; connect(S,sockaddr_in(%d,INADDR_LOOPBACK)) or die "connect: $!";`, port))
		ev := c.wait(t, "connect", 5*time.Second, func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeConnect && ev.FD.RPort == port
		})
		if ev.FD.RIP != "127.0.0.1" || ev.FD.Type != event.FDIPv4 || !ev.Evt.Success || ev.Proc.Name != "perl" {
			t.Errorf("connect event: %+v %+v name %q", ev.Evt, ev.FD, ev.Proc.Name)
		}
		// The test's own accept is not audited: ruled's pid is excluded
		// and so is this test process, which runs the source.
	})
	t.Run("write under /etc and remove", func(t *testing.T) {
		p := "/etc/ruled-e2e-" + n + ".tmp"
		t.Cleanup(func() { os.Remove(p) })
		run(t, "/bin/sh", "-c", "echo x > "+p+" && rm "+p)
		ev := c.wait(t, "open for write", 5*time.Second, func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeOpen && ev.File.Path == p
		})
		if !ev.File.Write || !slices.Contains(ev.Evt.Keys, "file_write") || !ev.Evt.Success {
			t.Errorf("open event: %+v %+v", ev.Evt, ev.File)
		}
		c.wait(t, "unlink", 5*time.Second, func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeUnlink && ev.File.Path == p && ev.Proc.Name == "rm"
		})
	})
	t.Run("read /etc/shadow", func(t *testing.T) {
		run(t, "/bin/sh", "-c", "cat /etc/shadow > /dev/null")
		ev := c.wait(t, "shadow read", 5*time.Second, func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeOpen && ev.File.Path == "/etc/shadow" && ev.Proc.Name == "cat"
		})
		if ev.File.Write || !slices.Contains(ev.Evt.Keys, "cred_read") {
			t.Errorf("shadow event: %+v %+v", ev.Evt, ev.File)
		}
	})
	t.Run("no feedback from own pid", func(t *testing.T) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, ev := range c.evs {
			if ev.Proc.PID == os.Getpid() {
				t.Fatalf("event from ruled's own pid: %+v", ev.Evt)
			}
		}
	})

	stop()
	if d := before.diff(readState(t)); len(d) > 0 {
		t.Errorf("after shutdown the audit state differs: %s", strings.Join(d, "; "))
	}
	st := src.Stats()
	if st.Events == 0 || st.Records < st.Events {
		t.Errorf("stats %+v", st)
	}
	t.Logf("stats %+v", st)
}

func pgrepAuditd() int {
	out, err := exec.Command("pgrep", "-x", "auditd").Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.Fields(string(out))[0])
	return pid
}

// writeAuditdConfig writes an auditd.conf into dir that logs into dir, and
// returns the log's path.
func writeAuditdConfig(t *testing.T, dir string) string {
	t.Helper()
	conf, err := os.ReadFile("/etc/audit/auditd.conf")
	if err != nil {
		e2e.Unavailable(t, "auditd not installed (test/setup.sh installs it): %v", err)
	}
	logPath := filepath.Join(dir, "audit.log")
	var lines []string
	for _, l := range strings.Split(string(conf), "\n") {
		if strings.HasPrefix(l, "log_file") {
			l = "log_file = " + logPath
		}
		lines = append(lines, l)
	}
	if err := os.WriteFile(filepath.Join(dir, "auditd.conf"), []byte(strings.Join(lines, "\n")), 0o640); err != nil {
		t.Fatal(err)
	}
	return logPath
}

// startAuditd runs Debian's auditd in the foreground with a configuration
// that logs into dir, and stops it when the test ends.
func startAuditd(t *testing.T, dir string) string {
	t.Helper()
	logPath := writeAuditdConfig(t, dir)
	cmd := exec.Command("auditd", "-n", "-c", dir, "-s", "enable")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		e2e.Unavailable(t, "cannot start auditd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		if cmd.Process == nil {
			return
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(5 * time.Second)
	for readState(t).status["pid"] != strconv.Itoa(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("auditd did not become the audit daemon within 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return logPath
}

// TestMulticastNextToAuditdAndReplay runs Debian's auditd as the audit
// daemon, checks that ruled reads the multicast group and sees an exec, then
// replays the log auditd wrote and expects the same event.
func TestMulticastNextToAuditdAndReplay(t *testing.T) {
	e2e.RequireRoot(t)
	if _, err := exec.LookPath("auditd"); err != nil {
		e2e.Unavailable(t, "auditd not installed; test/setup.sh installs it")
	}
	if pgrepAuditd() != 0 {
		e2e.Unavailable(t, "an auditd is already running; this test starts its own")
	}
	saveAudit(t)
	logPath := startAuditd(t, t.TempDir())
	// auditd (like its service) enables audit; this is the state ruled
	// must leave behind.
	withAuditd := readState(t)

	src, err := audit.New(audit.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	stop := startSource(t, src, c, true)
	if m := src.Stats().Mode; m != audit.ModeMulticast {
		t.Fatalf("mode %q, want multicast next to auditd", m)
	}
	if src.Stats().RulesInstalled == 0 {
		t.Fatal("auditd has no rules loaded, so ruled should have installed its own")
	}

	n := nonce()
	run(t, "/bin/echo", "ruled-mc-"+n)
	live := c.wait(t, "exec via multicast", 5*time.Second, func(ev *event.Event) bool {
		return ev.Evt.Type == event.TypeExecve && slices.Contains(ev.Proc.Args, "ruled-mc-"+n)
	})
	if live.Proc.Exe != "/usr/bin/echo" || !slices.Contains(live.Evt.Keys, "exec") {
		t.Errorf("exec event: %+v %+v", live.Evt, live.Proc)
	}

	stop()
	// auditd writes asynchronously; wait for the exec to reach its log.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), fmt.Sprintf("%x", "ruled-mc-"+n)) || strings.Contains(string(b), `"ruled-mc-`+n+`"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("auditd did not log the exec within 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := withAuditd.diff(readState(t)); len(d) > 0 {
		t.Errorf("after ruled stopped (auditd still running) the audit state differs: %s", strings.Join(d, "; "))
	}

	t.Run("replay of auditd's log", func(t *testing.T) {
		var got []*event.Event
		if err := replay.New(logPath, nil).Run(context.Background(), func(ev *event.Event) { got = append(got, ev) }); err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(got, func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeExecve && slices.Contains(ev.Proc.Args, "ruled-mc-"+n)
		})
		if i < 0 {
			t.Fatalf("exec not in the replay of %s (%d events)", logPath, len(got))
		}
		rep := *got[i]
		if rep.Evt.Source != event.SourceReplay {
			t.Errorf("replay source %q", rep.Evt.Source)
		}
		rep.Evt.Source = live.Evt.Source
		if fmt.Sprintf("%+v", rep) != fmt.Sprintf("%+v", *live) {
			t.Errorf("replayed event differs from the live one:\nlive   %+v\nreplay %+v", *live, rep)
		}
	})

	t.Run("forced unicast is refused while auditd runs", func(t *testing.T) {
		src, err := audit.New(audit.Config{Mode: audit.ModeUnicast}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := src.Run(ctx, func(*event.Event) {}); !errors.Is(err, audit.ErrDaemonRunning) {
			t.Errorf("Run = %v, want ErrDaemonRunning", err)
		}
	})

	t.Run("auditd's own rules are left alone and used", func(t *testing.T) {
		rule := []string{"-a", "always,exit", "-F", "arch=b64", "-S", "execve", "-k", "auditd_exec"}
		auditctl(t, rule...)
		t.Cleanup(func() { exec.Command("auditctl", append([]string{"-d"}, rule[1:]...)...).Run() })
		src, err := audit.New(audit.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &collector{}
		stop := startSource(t, src, c, false)
		if st := src.Stats(); st.Mode != audit.ModeMulticast || st.RulesInstalled != 0 {
			t.Fatalf("stats %+v, want multicast without own rules", st)
		}
		m := nonce()
		run(t, "/bin/echo", "ruled-mc2-"+m)
		ev := c.wait(t, "exec under auditd's rule", 5*time.Second, func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeExecve && slices.Contains(ev.Proc.Args, "ruled-mc2-"+m)
		})
		if !slices.Contains(ev.Evt.Keys, "auditd_exec") {
			t.Errorf("keys %v, want auditd's key", ev.Evt.Keys)
		}
		stop()
		if rs := readState(t).rules; len(rs) != 1 || !strings.Contains(rs[0], "auditd_exec") {
			t.Errorf("rules after ruled stopped: %q, want auditd's one rule", rs)
		}
	})
}
