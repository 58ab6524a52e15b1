package scenarios

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// alert is one Falco-shaped JSON alert as ruled prints it, plus when the
// suite read it.
type alert struct {
	Time     time.Time      `json:"time"`
	Rule     string         `json:"rule"`
	Priority any            `json:"priority"`
	Output   string         `json:"output"`
	Fields   map[string]any `json:"output_fields"`
	Source   string         `json:"source"`
	Tags     []string       `json:"tags"`
	Hostname string         `json:"hostname"`

	recv time.Time
}

// field returns an output field as text, whether ruled wrote the flat Falco
// key ("proc.name") or nested objects. ok is false when the field is absent,
// which for optional template fields means "the rule does not print it".
func (a *alert) field(name string) (string, bool) {
	if v, ok := a.Fields[name]; ok {
		return text(v), true
	}
	var cur any = a.Fields
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[part]; !ok {
			return "", false
		}
	}
	return text(cur), true
}

func (a *alert) get(name string) string {
	s, _ := a.field(name)
	return s
}

// text formats a decoded JSON value; numbers print as integers where whole,
// so a port compares as "3333", not "3333.000000".
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// parseAlert decodes one stdout line of ruled -output json.
func parseAlert(line []byte) (*alert, error) {
	a := new(alert)
	if err := json.Unmarshal(line, a); err != nil {
		return nil, fmt.Errorf("decode alert: %w", err)
	}
	if a.Rule == "" {
		return nil, errors.New("decode alert: no rule")
	}
	if a.Fields == nil {
		a.Fields = map[string]any{}
	}
	return a, nil
}

// agent is the running ruled process and what it printed.
type agent struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // from Wait, valid after exited is closed

	mu      sync.Mutex
	alerts  []*alert
	badLine []string
	stderr  tailBuffer
	readers sync.WaitGroup
}

// tailBuffer keeps the last part of ruled's log so a failure can show it
// without holding an unbounded log in memory.
type tailBuffer struct {
	b []byte
}

const tailMax = 256 << 10

func (t *tailBuffer) add(p []byte) {
	t.b = append(t.b, p...)
	if len(t.b) > tailMax {
		t.b = append([]byte(nil), t.b[len(t.b)-tailMax:]...)
	}
}

func startAgent(t *testing.T, bin string, args ...string) *agent {
	t.Helper()
	a := &agent{exited: make(chan struct{})}
	a.cmd = exec.Command(bin, args...)
	// ruled must not outlive a crashed test binary.
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start ruled: %v", err)
	}
	a.readers.Add(2)
	go a.readAlerts(stdout)
	go a.readLog(stderr)
	go func() {
		a.readers.Wait()
		a.err = a.cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		if a.running() {
			_ = a.cmd.Process.Kill()
			<-a.exited
		}
	})
	return a
}

func (a *agent) readAlerts(r io.Reader) {
	defer a.readers.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		now := time.Now()
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		al, err := parseAlert(line)
		a.mu.Lock()
		if err != nil {
			a.badLine = append(a.badLine, fmt.Sprintf("%v: %s", err, line))
		} else {
			al.recv = now
			a.alerts = append(a.alerts, al)
		}
		a.mu.Unlock()
	}
}

func (a *agent) readLog(r io.Reader) {
	defer a.readers.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			a.mu.Lock()
			a.stderr.add(buf[:n])
			a.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (a *agent) running() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// log returns the tail of ruled's stderr.
func (a *agent) log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return string(a.stderr.b)
}

// snapshot returns the alerts read so far.
func (a *agent) snapshot() []*alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*alert(nil), a.alerts...)
}

func (a *agent) badLines() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.badLine...)
}

// waitFor polls until an alert read at or after since satisfies match, or
// the deadline passes, or ruled exits.
func (a *agent) waitFor(since time.Time, timeout time.Duration, match func(*alert) bool) *alert {
	deadline := time.Now().Add(timeout)
	for {
		for _, al := range a.snapshot() {
			if !al.recv.Before(since) && match(al) {
				return al
			}
		}
		if time.Now().After(deadline) || !a.running() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for ruled to drain and restore audit state.
// It returns ruled's exit code, or an error when ruled had to be killed.
func (a *agent) stop(timeout time.Duration) (int, error) {
	if a.running() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-a.exited:
	case <-time.After(timeout):
		// Go's runtime answers SIGQUIT with every goroutine's stack on
		// stderr: where the stop hangs, for logTail.
		_ = a.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-a.exited:
		case <-time.After(3 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.exited
		}
		return -1, fmt.Errorf("ruled did not exit within %v of SIGTERM; stopped with SIGQUIT (goroutines in its log)", timeout)
	}
	var ee *exec.ExitError
	switch {
	case a.err == nil:
		return 0, nil
	case errors.As(a.err, &ee):
		return ee.ExitCode(), nil
	default:
		return -1, a.err
	}
}

// logTail writes the end of ruled's log to the test log.
func (a *agent) logTail(t *testing.T) {
	t.Helper()
	l := a.log()
	max := 8 << 10
	if i := strings.Index(l, "SIGQUIT: quit"); i >= 0 {
		// A goroutine dump (stop): the log before it, and all of it.
		max = len(l) - i + 4<<10
	}
	if len(l) > max {
		l = "...\n" + l[len(l)-max:]
	}
	t.Logf("ruled stderr (tail):\n%s", l)
}
