package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Agent is a ruled agent process started by a test, with what it printed:
// stdout lines (alerts with -output json) and the tail of its log.
type Agent struct {
	Cmd    *exec.Cmd
	exited chan struct{}
	err    error // from Wait, valid once exited is closed

	mu      sync.Mutex
	lines   [][]byte
	log     []byte
	readers sync.WaitGroup
}

const agentLogMax = 512 << 10

// StartAgent starts bin with args; the agent is killed when the test ends
// if it still runs. env, when not nil, is added to the environment.
func StartAgent(t testing.TB, bin string, env []string, args ...string) *Agent {
	t.Helper()
	a := &Agent{exited: make(chan struct{})}
	a.Cmd = exec.Command(bin, args...)
	if env != nil {
		a.Cmd.Env = append(a.Cmd.Environ(), env...)
	}
	// The agent must not outlive a crashed test binary.
	a.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Own pipes rather than StdoutPipe: Wait would close those while the
	// last lines are unread, and a guardian the agent starts keeps its
	// stderr open a moment after the agent is gone.
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	a.Cmd.Stdout, a.Cmd.Stderr = outW, errW
	err = a.Cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		t.Fatalf("start ruled: %v", err)
	}
	a.readers.Add(1)
	go a.readLines(outR)
	go a.readLog(errR)
	go func() {
		a.readers.Wait() // stdout: only the agent holds it
		a.err = a.Cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		if a.Running() {
			_ = a.Cmd.Process.Kill()
			<-a.exited
		}
		if t.Failed() {
			t.Logf("ruled log (tail):\n%s", tail(a.Log(), 16<<10))
		}
	})
	return a
}

func tail(s string, n int) string {
	if len(s) > n {
		return "...\n" + s[len(s)-n:]
	}
	return s
}

func (a *Agent) readLines(r io.ReadCloser) {
	defer a.readers.Done()
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		a.mu.Lock()
		a.lines = append(a.lines, append([]byte(nil), sc.Bytes()...))
		a.mu.Unlock()
	}
}

func (a *Agent) readLog(r io.ReadCloser) {
	defer r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			a.mu.Lock()
			a.log = append(a.log, buf[:n]...)
			if len(a.log) > agentLogMax {
				a.log = append([]byte(nil), a.log[len(a.log)-agentLogMax:]...)
			}
			a.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// PID is the agent's process id.
func (a *Agent) PID() int { return a.Cmd.Process.Pid }

// Running tells whether the agent has not exited yet.
func (a *Agent) Running() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// Log returns the tail of the agent's log (stderr).
func (a *Agent) Log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return string(a.log)
}

// Lines returns the stdout lines read so far.
func (a *Agent) Lines() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([][]byte(nil), a.lines...)
}

// WaitLog waits until the log holds s, failing the test when it does not
// within d or the agent exits first.
func (a *Agent) WaitLog(t testing.TB, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(a.Log(), s) {
		if !a.Running() {
			t.Fatalf("ruled exited (%v) before logging %q", a.err, s)
		}
		if time.Now().After(deadline) {
			t.Fatalf("ruled did not log %q within %v", s, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Wait waits up to d for the agent to exit and returns its exit code (-1
// when a signal ended it), or an error when it did not exit in time.
func (a *Agent) Wait(d time.Duration) (int, error) {
	select {
	case <-a.exited:
	case <-time.After(d):
		return -1, fmt.Errorf("ruled did not exit within %v", d)
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

// Stop sends SIGTERM and waits up to d for the agent to drain, restore
// audit and exit; it kills the agent and reports an error when it does not.
func (a *Agent) Stop(d time.Duration) (int, error) {
	if a.Running() {
		_ = a.Cmd.Process.Signal(syscall.SIGTERM)
	}
	code, err := a.Wait(d)
	if err != nil {
		_ = a.Cmd.Process.Kill()
		<-a.exited
	}
	return code, err
}
