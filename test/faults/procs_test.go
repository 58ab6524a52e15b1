package faults

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

// rssKiB reads a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

var liveRE = regexp.MustCompile(`Live:(\d+)`)

// tableLive reads the process table's Live count from the last stats line.
func tableLive(log string) int {
	m := lastLog(log, "process table stats", "")
	if s := liveRE.FindStringSubmatch(m["stats"]); s != nil {
		n, _ := strconv.Atoi(s[1])
		return n
	}
	return 0
}

// TestFault10kProcesses: a host with 10,000 more processes (sleeping, in a
// container) than usual. The agent starts, its process table holds them,
// events flow, and a credential read in that container still alerts with
// its name. RSS and table size are logged (BENCHMARKS.md).
func TestFault10kProcesses(t *testing.T) {
	s := newSuite(t, "")
	e2eDocker(t)
	const n = 10000
	name := fmt.Sprintf("ruled-auditsafe-fault-10k-%d", os.Getpid())
	runBoxCmd(t, name, "sh", "-c", fmt.Sprintf("i=0; while [ $i -lt %d ]; do sleep 3600 & i=$((i+1)); done; echo started; wait", n))
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, _ := exec.Command("docker", "logs", name).CombinedOutput()
		if strings.Contains(string(out), "started") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %d processes did not start within 90 s", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	procs := countProcs(t)
	if procs < n {
		t.Fatalf("%d processes on the host, want over %d", procs, n)
	}

	start := time.Now()
	a := s.start(t)
	for time.Now().Before(start.Add(30*time.Second)) && tableLive(a.Log()) < n {
		time.Sleep(200 * time.Millisecond)
	}
	live := tableLive(a.Log())
	if live < n {
		t.Fatalf("the process table holds %d processes with %d on the host", live, procs)
	}
	rssStart := rssKiB(t, a.PID())
	s.flows(t, a, "busy")
	if !containerAlert(t, a, "Read sensitive file untrusted", name, 20*time.Second, "cat", "/etc/shadow") {
		t.Errorf("no credential-read alert named %s among %d processes", name, n)
	}
	rssAfter := rssKiB(t, a.PID())
	t.Logf("host processes %d; process table live %d; agent RSS %d KiB after start, %d KiB after events; ready in %v",
		procs, live, rssStart, rssAfter, time.Since(start).Round(time.Millisecond))
	stop(t, a)
}

func countProcs(t *testing.T) int {
	t.Helper()
	pids, err := e2e.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	return len(pids)
}
