package procconn

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/procconn"
	"github.com/ruled/ruled/test/e2e"
)

// execReaders returns the exec reader processes this test process
// started (argv[0] ruled-exec-reader, parent this process).
func execReaders(t *testing.T) []int {
	t.Helper()
	all, err := e2e.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, pid := range all {
		d := "/proc/" + strconv.Itoa(pid)
		cmdline, err := os.ReadFile(d + "/cmdline")
		if err != nil || !bytes.HasPrefix(cmdline, []byte("ruled-exec-reader\x00")) {
			continue
		}
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// statusField returns a field of /proc/PID/status.
func statusField(t *testing.T, pid int, name string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestExecReaderProcesses: with Config.ExecReader the source reads execs
// in processes of its own, one per CPU it binds them to (two on a machine
// of several), every thread of each at real-time priority; a reader that
// dies leaves the source running and reading execs itself; none is left
// once the source ends.
func TestExecReaderProcesses(t *testing.T) {
	e2e.RequireRoot(t)
	src := procconn.New(procconn.Config{ReadExec: true, ExecReader: "/proc/self/exe"})
	var mu sync.Mutex
	exes := map[int]string{}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- src.Run(ctx, func(ev *event.Event) {
			if ev.Evt.Type == event.TypeExecve {
				mu.Lock()
				exes[ev.Proc.PID] = ev.Proc.Exe
				mu.Unlock()
			}
		})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("source: %v", err)
			}
		}
	}
	defer stop()

	want := 1
	if runtime.NumCPU() > 1 {
		want = 2
	}
	var readers []int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if readers = execReaders(t); len(readers) == want {
			break
		}
	}
	if len(readers) != want {
		t.Fatalf("exec reader processes %v, want %d", readers, want)
	}
	cpus := map[string]bool{}
	for _, pid := range readers {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			if p, err := schedPolicy(tid); err != nil || p != 1 {
				t.Errorf("reader %d thread %d: policy %d (%v), want SCHED_FIFO", pid, tid, p, err)
			}
		}
		cpus[statusField(t, pid, "Cpus_allowed_list")] = true
	}
	if len(cpus) != want {
		t.Errorf("readers bound to %v, want %d CPUs of their own", cpus, want)
	}

	// Each step's exec is seen with its executable.
	execOnce := func(step string) {
		t.Helper()
		cmd := exec.Command("/bin/sh", "-c", "sleep 0.2")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			exe := exes[cmd.Process.Pid]
			mu.Unlock()
			if exe != "" {
				return
			}
		}
		t.Errorf("%s: exec of pid %d not seen with its executable", step, cmd.Process.Pid)
	}
	execOnce("both readers")
	for i, pid := range readers {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		execOnce(fmt.Sprintf("%d reader(s) killed", i+1))
	}
	if st := src.Stats(); st.ExecReadLate == 0 {
		t.Errorf("with every reader killed, no exec was read by the main reader: %+v", st)
	}
	stop()
	if left := execReaders(t); len(left) != 0 {
		t.Errorf("exec readers %v left after the source ended", left)
	}
}

// schedPolicy returns a thread's scheduling policy (stat field 41).
func schedPolicy(tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	// Fields after comm start at field 3 (state).
	if len(f) < 39 {
		return 0, fmt.Errorf("stat of %d: %d fields", tid, len(f))
	}
	return strconv.Atoi(f[38])
}
