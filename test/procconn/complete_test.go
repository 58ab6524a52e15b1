package procconn

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/procconn"
	"github.com/ruled/ruled/test/e2e"
)

// TestExecStormCarriesExeAndName: with ReadExec (the proc connector alone),
// an exec's exe and comm are read as its message is received, so a storm of
// quick execs keeps them for at least 99%; every exec that lacks one is
// counted in ExecIncomplete. A storm during which the VM's hypervisor took
// much of the machine is judged again (see below): in CI one ran at 1,117
// exec/s instead of ~3,000 and kept 74%.
//
// Twice: read from /proc by the exec readers, and, with the host's mount
// namespace known, taken in the kernel by the host exec filter's
// capturing program, which must take them all (ExecsCaptured) with their
// argv.
func TestExecStormCarriesExeAndName(t *testing.T) {
	e2e.RequireRoot(t)
	// The storm runs in a process of its own, as on a real host: spawners
	// inside the test binary would share its Go runtime with the source.
	storm := filepath.Join(t.TempDir(), "execstorm")
	if out, err := exec.Command("go", "build", "-o", storm, "github.com/ruled/ruled/test/execstorm").CombinedOutput(); err != nil {
		t.Fatalf("build execstorm: %v\n%s", err, out)
	}
	l, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("exec readers", func(t *testing.T) { execStormCarries(t, storm, 0) })
	t.Run("captured in the kernel", func(t *testing.T) { execStormCarries(t, storm, procfs.NSInode(l)) })
}

func execStormCarries(t *testing.T, storm string, hostMnt uint64) {
	const n = 6000
	src := procconn.New(procconn.Config{ReadExec: true, ExecReader: "/proc/self/exe", HostMountNS: hostMnt})
	type seen struct {
		exe, name string
		args      []string
	}
	var mu sync.Mutex
	execs := map[int]seen{}
	parent := map[int]int{}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- src.Run(ctx, func(ev *event.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch ev.Evt.Type {
			case event.TypeFork:
				parent[ev.Proc.PID] = ev.Proc.PPID
			case event.TypeExecve:
				execs[ev.Proc.PID] = seen{ev.Proc.Exe, ev.Proc.Name, ev.Proc.Args}
			}
		})
	}()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("source: %v", err)
		}
	}()
	time.Sleep(300 * time.Millisecond) // subscribed
	// A virtual CPU its hypervisor does not run stops the exec readers
	// with it, and the quick processes exit meanwhile: no agent can read
	// them. A storm that missed the bar while the hypervisor took more
	// than maxSteal of the machine is run again (at most attempts times);
	// one that missed it on a machine left to itself fails the test.
	const attempts, maxSteal = 3, 5.0
	for try := 1; ; try++ {
		mu.Lock()
		clear(execs)
		clear(parent)
		mu.Unlock()
		before := src.Stats()
		cpu := e2e.ReadCPUStat()
		cmd := exec.Command(storm, "-n", strconv.Itoa(n), "-streams", "2", "/bin/true")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("execstorm: %v", err)
		}
		steal := e2e.StealSince(cpu)
		spawner := cmd.Process.Pid
		var got, complete, incomplete, withArgv int
		for range 50 {
			time.Sleep(100 * time.Millisecond)
			mu.Lock()
			got, complete, incomplete, withArgv = 0, 0, 0, 0
			for pid, pp := range parent {
				if pp != spawner {
					continue
				}
				s, ok := execs[pid]
				if !ok {
					continue
				}
				got++
				if (s.exe == "/usr/bin/true" || s.exe == "/bin/true") && s.name == "true" {
					complete++
				} else {
					incomplete++
				}
				// argv is not in ExecIncomplete: a reader that read exe
				// and stat can find the cmdline of a zombie empty.
				if slices.Equal(s.args, []string{"/bin/true"}) {
					withArgv++
				}
			}
			mu.Unlock()
			if got == n {
				break
			}
		}
		st := src.Stats()
		t.Logf("storm %d: %s: %d execs received, %d with exe and name (%.2f%%), %d with argv, ExecIncomplete %d, lost %d; the hypervisor took %.1f%% of the CPU",
			try, strings.TrimSpace(string(out)), got, complete, 100*float64(complete)/float64(n), withArgv, st.ExecIncomplete-before.ExecIncomplete, st.Lost, steal)
		if captured := st.ExecsCaptured - before.ExecsCaptured; hostMnt != 0 && (captured < n || withArgv < n) {
			t.Errorf("%d of %d host execs captured in the kernel, %d with their argv", captured, n, withArgv)
		}
		if got+int(st.Lost) < n {
			t.Errorf("%d of %d execs neither received nor counted lost", n-got-int(st.Lost), n)
		}
		if counted := int(st.ExecIncomplete - before.ExecIncomplete); counted < incomplete {
			t.Errorf("%d execs without exe or name, only %d counted", incomplete, counted)
		}
		if complete*100 >= n*99 || t.Failed() {
			break
		}
		if !(steal > maxSteal) || try == attempts {
			t.Errorf("%d of %d execs carry exe and name, want at least 99%% (the hypervisor took %.1f%% of the CPU)", complete, n, steal)
			break
		}
	}
}
