package outputs

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	out "github.com/ruled/ruled/outputs"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/test/e2e"
)

// rsyslog is an rsyslogd of the test's own, on loopback ports and a socket
// in a temp dir, storing what it parsed in RFC 5424 form.
type rsyslog struct {
	dir, sock, out string
	udp, tcp       string // 127.0.0.1:PORT
	bin, conf      string
	stop           func()
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}

func startRsyslog(t *testing.T) *rsyslog {
	t.Helper()
	e2e.RequireRoot(t)
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		e2e.Unavailable(t, "rsyslogd not installed (test/setup.sh installs it): %v", err)
	}
	dir := t.TempDir()
	r := &rsyslog{dir: dir, sock: filepath.Join(dir, "log.sock"), out: filepath.Join(dir, "out.log")}
	udpPort, tcpPort := freePort(t, "udp"), freePort(t, "tcp")
	r.udp = fmt.Sprintf("127.0.0.1:%d", udpPort)
	r.tcp = fmt.Sprintf("127.0.0.1:%d", tcpPort)
	// The template re-emits what rsyslog parsed: if it did not take our
	// message as RFC 5424, APP-NAME, MSGID and STRUCTURED-DATA come out wrong.
	conf := fmt.Sprintf(`global(workDirectory=%[1]q maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket=%[2]q UseSpecialParser="off" ParseHostname="on" IgnoreTimestamp="off" UsePIDFromSystem="off" CreatePath="on")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="%[3]d")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="%[4]d")
template(name="r5424" type="string" string="%%inputname%% <%%PRI%%>1 %%TIMESTAMP:::date-rfc3339%% %%HOSTNAME%% %%APP-NAME%% %%PROCID%% %%MSGID%% %%STRUCTURED-DATA%% %%msg%%\n")
*.* action(type="omfile" file=%[5]q template="r5424" asyncWriting="off" flushOnTXEnd="on")
`, dir, r.sock, udpPort, tcpPort, r.out)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	r.bin, r.conf = bin, confPath
	r.start(t)
	return r
}

// start launches rsyslogd and waits until it listens; the test's cleanup
// stops it.
func (r *rsyslog) start(t *testing.T) {
	t.Helper()
	// Our own pid file: rsyslogd refuses to start while another instance's
	// pid file names a live process.
	cmd := exec.Command(r.bin, "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	logf, err := os.OpenFile(filepath.Join(r.dir, "rsyslogd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			logf.Close()
		})
	}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(r.dir, "rsyslogd.log"))
			t.Logf("rsyslogd log:\n%s", b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", r.tcp)
		if err == nil {
			c.Close()
			if _, err := os.Stat(r.sock); err == nil {
				return
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(r.dir, "rsyslogd.log"))
			t.Fatalf("rsyslogd exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("rsyslogd did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lines returns the stored lines once at least n are there.
func (r *rsyslog) lines(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []string
		if f, err := os.Open(r.out); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				got = append(got, sc.Text())
			}
			f.Close()
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslog stored %d lines, want %d: %q", len(got), n, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func alert(rule string, p event.Priority) event.Alert {
	return event.Alert{
		Time:     time.Now(),
		Rule:     rule,
		Priority: p,
		Output:   "Shell spawned by java (cmd=sh -c id)",
		OutputFields: map[string]any{
			"evt.type": "execve", "proc.pid": 4242, "proc.name": "sh", "proc.cmdline": "sh -c id",
			"container.id": "0123456789ab", "container.name": `we"ird]name\`,
		},
		Tags:     []string{"container"},
		Hostname: "ruled-e2e",
	}
}

func TestSyslogToRsyslog(t *testing.T) {
	r := startRsyslog(t)
	tests := []struct {
		name, spec, input, app string
		facility               int
	}{
		{"unix", "syslog://unix" + r.sock + "?app=ruled-unix", "imuxsock", "ruled-unix", 16},
		{"udp", "syslog+udp://" + r.udp + "?app=ruled-udp&facility=daemon", "imudp", "ruled-udp", 3},
		{"tcp", "syslog+tcp://" + r.tcp + "?app=ruled-tcp&facility=local5", "imtcp", "ruled-tcp", 21},
	}
	var specs []out.Spec
	for _, tt := range tests {
		sp, err := out.ParseSpec(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, sp)
	}
	s, err := out.NewStage(specs, out.StageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	prios := []event.Priority{event.PriorityCritical, event.PriorityWarning, event.PriorityDebug}
	for i, p := range prios {
		s.Send(alert(fmt.Sprintf(`Rule %d with "quotes" \ and ]`, i), p))
	}
	lines := r.lines(t, len(tests)*len(prios))
	cancel()
	<-done

	t.Logf("rsyslog stored:\n%s", strings.Join(lines, "\n"))
	seen := map[string]int{}
	for _, l := range lines {
		input, raw, _ := strings.Cut(l, " ")
		m, err := parseRFC5424(raw)
		if err != nil {
			t.Errorf("%s: stored line does not parse as RFC 5424: %v", input, err)
			continue
		}
		var tt *struct {
			name, spec, input, app string
			facility               int
		}
		for i := range tests {
			if tests[i].input == input {
				tt = &tests[i]
			}
		}
		if tt == nil {
			t.Errorf("line from unexpected input %q", input)
			continue
		}
		idx := seen[input]
		seen[input]++
		want := alert(fmt.Sprintf(`Rule %d with "quotes" \ and ]`, idx), prios[idx])
		sd := m.SD["ruled@32473"]
		checks := []struct {
			what      string
			got, want any
		}{
			{"pri", m.Pri, tt.facility*8 + int(prios[idx])},
			{"app", m.App, tt.app},
			{"host", m.Host, "ruled-e2e"},
			{"procid", m.ProcID, strconv.Itoa(os.Getpid())},
			{"msgid", m.MsgID, "alert"},
			{"sd rule", sd["rule"], want.Rule},
			{"sd container_name", sd["container_name"], `we"ird]name\`},
			{"sd proc_pid", sd["proc_pid"], "4242"},
			{"msg", m.Msg, prios[idx].String() + " " + want.Rule + ": " + want.Output},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s line %d: %s = %v, want %v\n%s", tt.name, idx, c.what, c.got, c.want, l)
			}
		}
		if ts, err := time.Parse(time.RFC3339Nano, m.Timestamp); err != nil || time.Since(ts) > time.Minute {
			t.Errorf("%s: timestamp %q: %v", tt.name, m.Timestamp, err)
		}
	}
	for _, tt := range tests {
		if seen[tt.input] != len(prios) {
			t.Errorf("%s: rsyslog stored %d messages, want %d", tt.name, seen[tt.input], len(prios))
		}
	}
	for _, st := range s.Stats() {
		if st.Sent != uint64(len(prios)) || st.Failed != 0 || st.Dropped != 0 {
			t.Errorf("stats %+v", st)
		}
	}
}

// After rsyslogd restarts (new unix socket, TCP connection reset) alerts
// reach it again: the outputs reconnect on their own.
func TestSyslogSurvivesDaemonRestart(t *testing.T) {
	r := startRsyslog(t)
	var specs []out.Spec
	for _, raw := range []string{
		"syslog://unix" + r.sock + "?app=ruled-unix&retry_backoff=50ms&retries=10",
		"syslog+tcp://" + r.tcp + "?app=ruled-tcp&retry_backoff=50ms&retries=10",
	} {
		sp, err := out.ParseSpec(raw)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, sp)
	}
	s, err := out.NewStage(specs, out.StageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	s.Send(alert("before restart", event.PriorityError))
	r.lines(t, 2)
	r.stop()
	r.start(t)
	// A TCP write right after the peer went away can still succeed into the
	// kernel buffer and be lost (syslog over TCP has no acknowledgement), so
	// send until both transports delivered after the restart.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		s.Send(alert(fmt.Sprintf("after restart %d", i), event.PriorityError))
		time.Sleep(100 * time.Millisecond)
		var unix, tcp bool
		for _, l := range r.lines(t, 2) {
			unix = unix || strings.HasPrefix(l, "imuxsock ") && strings.Contains(l, "after restart")
			tcp = tcp || strings.HasPrefix(l, "imtcp ") && strings.Contains(l, "after restart")
		}
		if unix && tcp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: unix delivered %v, tcp delivered %v; stats %+v", unix, tcp, s.Stats())
		}
	}
	for _, st := range s.Stats() {
		if st.Retried == 0 {
			t.Errorf("%s: no retry recorded across the restart: %+v", st.Name, st)
		}
	}
}
