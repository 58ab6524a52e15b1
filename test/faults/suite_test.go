package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

// markerRule alerts on every exec of the suite's marker binary, without a
// rate limit (the config turns it off), so alerts count events.
const markerRule = `- rule: Fault suite marker
  desc: An exec of the fault suite's marker binary; counts events end to end.
  condition: evt.type == "execve" and evt.success and proc.name == "ruled-fault-mk"
  output: fault marker %proc.cmdline
  priority: NOTICE
  tags: [test]
`

const markerRuleName = "Fault suite marker"

// suite is one fault test's agent setup.
type suite struct {
	bin      string
	marker   string // the marker binary (a copy of /bin/true)
	rulesDir string // holds the marker rule
	config   string
}

func newSuite(t *testing.T, config string) *suite {
	t.Helper()
	e2e.RequireRoot(t)
	e2e.SaveAudit(t)
	dir := t.TempDir()
	s := &suite{bin: e2e.RuledBinary(t), marker: filepath.Join(dir, "ruled-fault-mk"), rulesDir: filepath.Join(dir, "rules"), config: filepath.Join(dir, "ruled.yaml")}
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.marker, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.rulesDir, "marker.yaml"), []byte(markerRule), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := "rate_limit:\n  rate: -1\nstats_interval: 1s\n" + config
	if err := os.WriteFile(s.config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs the agent (both sources, default pack plus the marker rule,
// JSON alerts on stdout) and waits until its audit rules are in.
func (s *suite) start(t *testing.T, args ...string) *e2e.Agent {
	t.Helper()
	all := append([]string{"-config", s.config, "-rules", "builtin", "-rules", s.rulesDir, "-output", "json"}, args...)
	a := e2e.StartAgent(t, s.bin, nil, all...)
	a.WaitLog(t, "audit rules installed", 30*time.Second)
	a.WaitLog(t, "ruled running", 10*time.Second)
	// The process table seed and the container warm-up run after "ruled
	// running"; a marker right away is still seen, by both sources.
	return a
}

// run execs the marker n times with the arguments tag and a number, from
// workers goroutines at once, and returns how many ran.
func (s *suite) run(t *testing.T, tag string, n, workers int) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := 0
	var firstErr error
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				err := exec.Command(s.marker, tag, strconv.Itoa(i)).Run()
				mu.Lock()
				if err == nil {
					ran++
				} else if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("marker exec: %v", firstErr)
	}
	return ran
}

// alertLine is the part of a JSON alert the suite reads.
type alertLine struct {
	Rule         string         `json:"rule"`
	OutputFields map[string]any `json:"output_fields"`
}

// markerCount counts the distinct marker execs with a tag among JSON alert
// lines, reading only the lines added since its last call (the agent
// shares two cores with the test; decoding every line on every poll would
// slow it down).
type markerCount struct {
	tag  string
	next int
	seen map[string]bool
	// untagged counts marker alerts whose command line names no exec:
	// the kernel lost the exec's EXECVE and PROCTITLE records, not its
	// SYSCALL, so the alert has the name but not the arguments.
	untagged int
}

func (c *markerCount) add(lines [][]byte) int {
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	for ; c.next < len(lines); c.next++ {
		l := lines[c.next]
		if !strings.Contains(string(l), markerRuleName) {
			continue
		}
		var a alertLine
		if json.Unmarshal(l, &a) != nil || a.Rule != markerRuleName {
			continue
		}
		cmd, _ := a.OutputFields["proc.cmdline"].(string)
		f := strings.Fields(cmd)
		switch {
		case len(f) == 3 && f[1] == c.tag:
			c.seen[f[2]] = true
		case len(f) < 3:
			c.untagged++
		}
	}
	return len(c.seen)
}

// waitMarkers waits up to d for want marker alerts with tag and returns
// how many arrived.
func waitMarkers(a *e2e.Agent, tag string, want int, d time.Duration) int {
	got, _ := waitMarkersFrom(a, tag, 0, want, d)
	return got
}

// waitMarkersFrom is waitMarkers over the lines from the from-th on, also
// returning the marker alerts among them that name no exec (untagged).
func waitMarkersFrom(a *e2e.Agent, tag string, from, want int, d time.Duration) (got, untagged int) {
	c := &markerCount{tag: tag, next: from}
	deadline := time.Now().Add(d)
	for {
		got = c.add(a.Lines())
		if got >= want || time.Now().After(deadline) || !a.Running() {
			return got, c.untagged
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// flows checks that events flow after a fault: every one of 20 marker
// execs raises its alert within 10 s.
func (s *suite) flows(t *testing.T, a *e2e.Agent, tag string) {
	t.Helper()
	n := s.run(t, tag, 20, 1)
	if got := waitMarkers(a, tag, n, 10*time.Second); got != n {
		t.Errorf("%s: %d of %d marker execs alerted within 10 s", tag, got, n)
	}
}

// stop ends the agent with SIGTERM, expecting exit 0.
func stop(t *testing.T, a *e2e.Agent) {
	t.Helper()
	if code, err := a.Stop(30 * time.Second); code != 0 || err != nil {
		t.Errorf("agent stop: exit %d, %v", code, err)
	}
}

var kvRE = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`)

// lastLog returns the key=value pairs of the last log line whose message
// is msg (with where, when not empty, also in the line), nil when none.
func lastLog(log, msg, where string) map[string]string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, "msg=\""+msg+"\"") && strings.Contains(l, where) {
			last = l
		}
	}
	if last == "" {
		return nil
	}
	m := map[string]string{}
	for _, kv := range kvRE.FindAllStringSubmatch(last, -1) {
		v := kv[2]
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		m[kv[1]] = v
	}
	return m
}

// num reads a counter from a lastLog map (0 when missing).
func num(m map[string]string, k string) uint64 {
	n, _ := strconv.ParseUint(m[k], 10, 64)
	return n
}

// auditLost sums the audit source's loss counters in its last stats line.
func auditLost(log string, kernelLostAtStart uint64) (uint64, map[string]string) {
	m := lastLog(log, "audit stats", "")
	lost := num(m, "queue_drops") + num(m, "socket_drops") + num(m, "reassembly_lost")
	if k := num(m, "kernel_lost"); k > kernelLostAtStart {
		lost += k - kernelLostAtStart
	}
	return lost, m
}

// kernelLost reads the kernel's audit lost counter (since boot).
func kernelLost(t *testing.T) uint64 {
	t.Helper()
	out, err := exec.Command("auditctl", "-s").Output()
	if err != nil {
		t.Fatalf("auditctl -s: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "lost "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	t.Fatal("auditctl -s shows no lost counter")
	return 0
}

// countLines counts the lines of a file and checks each is a JSON object.
func countLines(t *testing.T, path string) (n int, bad []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if !json.Valid(line) || line[len(line)-1] != '\n' {
				bad = append(bad, fmt.Sprintf("line %d: %.120q", n+1, line))
			}
			n++
		}
		if err == io.EOF {
			return n, bad
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
