package main

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/sensors/audit"
)

func TestResultRoundTrip(t *testing.T) {
	in := spawnResult{elapsed: 1234567 * time.Nanosecond, errors: 2, self: 99, ops: []op{{pid: 10, start: 100}, {pid: 11, start: 200}}}
	var b bytes.Buffer
	writeResult(&b, in)
	got, err := parseResult(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("got %+v want %+v", got, in)
	}
	if _, err := parseResult(strings.NewReader("elapsed_ns=1 errors=0 self=1 ops=2\n10 100\n")); err == nil {
		t.Error("a result with fewer lines than its header says parsed")
	}
}

func TestRuledParser(t *testing.T) {
	p := ruledParser("ruled-load exec")
	tests := []struct {
		name     string
		line     string
		ok       bool
		pid      int
		complete bool
	}{
		{"complete", `{"rule":"ruled-load exec","output_fields":{"proc.pid":42,"proc.exe":"/usr/bin/true","proc.cmdline":"true ruled-load","container.id":"host"}}`, true, 42, true},
		{"no argv", `{"rule":"ruled-load exec","output_fields":{"proc.pid":43,"proc.exe":"/usr/bin/true","proc.cmdline":"","container.id":"host"}}`, true, 43, false},
		{"no container", `{"rule":"ruled-load exec","output_fields":{"proc.pid":44,"proc.exe":"/usr/bin/true","proc.cmdline":"true ruled-load","container.id":""}}`, true, 44, false},
		{"other rule", `{"rule":"Shell spawned","output_fields":{"proc.pid":45}}`, false, 0, false},
		{"rule name only in a field", `{"rule":"x","output":"ruled-load exec","output_fields":{"proc.pid":46}}`, false, 0, false},
		{"not json", `ruled-load exec`, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := p([]byte(tt.line))
			if ok != tt.ok || s.pid != tt.pid || s.complete != tt.complete {
				t.Errorf("got %+v, %v; want pid %d complete %v, %v", s, ok, tt.pid, tt.complete, tt.ok)
			}
		})
	}
}

func TestAuditdParser(t *testing.T) {
	p := auditdParser("ruled-load")
	line := "type=SYSCALL msg=audit(1796408098.778:10804): arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=10833 pid=16715 auid=4294967295 comm=\"true\" exe=\"/usr/bin/true\" key=\"ruled-load\"\x1dARCH=x86_64 SYSCALL=execve"
	s, ok := p([]byte(line))
	if !ok || s.pid != 16715 || !s.complete {
		t.Errorf("got %+v, %v; want pid 16715 (not ppid), complete", s, ok)
	}
	for _, other := range []string{
		strings.Replace(line, `key="ruled-load"`, `key="exec"`, 1),
		"type=EXECVE msg=audit(1796408098.778:10804): argc=2 a0=\"true\" key=\"ruled-load\" pid=1",
	} {
		if _, ok := p([]byte(other)); ok {
			t.Errorf("accepted %q", other)
		}
	}
}

func TestParseAuditStatus(t *testing.T) {
	out := "enabled 1\nfailure 1\npid 0\nrate_limit 0\nbacklog_limit 8192\nlost 0\nbacklog 0\nbacklog_wait_time 60000\nbacklog_wait_time_actual 0\nloginuid_immutable 0 unlocked\n"
	got, err := parseAuditStatus([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := auditStatus{Enabled: 1, Failure: 1, BacklogLimit: 8192, BacklogWait: 60000}
	if got != want {
		t.Errorf("got %+v want %+v", got, want)
	}
	if _, err := parseAuditStatus([]byte("enabled 1\n")); err == nil {
		t.Error("a status without the fields to restore parsed")
	}
}

func TestParseStatCPU(t *testing.T) {
	// comm with a space and a parenthesis; utime 250, stime 75, and of
	// reaped children cutime 30, cstime 5.
	line := "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 30 5 20 0 3 0 100 0 0\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 360 {
		t.Errorf("got %d, %v; want 360", got, err)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1")); err == nil {
		t.Error("a short stat line parsed")
	}
}

func TestMatchAndPercentile(t *testing.T) {
	t0 := time.Unix(100, 0)
	res := spawnResult{self: 7, ops: []op{{pid: 10, start: t0.UnixNano()}, {pid: 11, start: t0.UnixNano()}, {pid: 12, start: t0.UnixNano()}}}
	seen := []sighting{
		{pid: 10, at: t0.Add(2 * time.Millisecond), complete: true},
		{pid: 10, at: t0.Add(9 * time.Millisecond), complete: true}, // a second report of one exec
		{pid: 11, at: t0.Add(4 * time.Millisecond)},
		{pid: 99, at: t0.Add(time.Millisecond), complete: true}, // not the storm's
	}
	m := match(stormExec, res, seen)
	if m.seen != 2 || m.complete != 1 || len(m.lat) != 2 {
		t.Fatalf("got %+v; want 2 seen, 1 complete, 2 latencies", m)
	}
	if p := percentile(m.lat, 50); p != 2 {
		t.Errorf("p50 = %v, want 2", p)
	}
	if p := percentile(m.lat, 99); p != 4 {
		t.Errorf("p99 = %v, want 4", p)
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile of nothing is not NaN")
	}
	if m := match(stormConnect, res, []sighting{{pid: 7}, {pid: 7}, {pid: 8}}); m.seen != 2 {
		t.Errorf("connect: seen %d, want the spawner's 2", m.seen)
	}
}

func TestStatusKB(t *testing.T) {
	b := []byte("Name:\truled\nVmHWM:\t   33792 kB\nVmRSS:\t   30000 kB\n")
	if kb, ok := statusKB(b, "VmHWM"); !ok || kb != 33792 {
		t.Errorf("VmHWM = %d, %v", kb, ok)
	}
	if _, ok := statusKB(b, "VmSwap"); ok {
		t.Error("found a missing line")
	}
}

// TestSpawn runs each storm kind small: every operation is counted and the
// exec storm reports distinct pids.
func TestSpawn(t *testing.T) {
	for _, c := range []spawnConfig{
		{kind: stormExec, count: 20, streams: 2, target: "/bin/true"},
		{kind: stormConnect, count: 20, streams: 2, addr: "127.0.0.1:0"},
		{kind: stormWrite, count: 20, streams: 2, dir: t.TempDir()},
	} {
		t.Run(c.kind, func(t *testing.T) {
			res, err := spawn(c)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.ops) != c.count || res.errors != 0 {
				t.Fatalf("%d operations, %d errors; want %d, 0", len(res.ops), res.errors, c.count)
			}
			if c.kind == stormExec {
				pids := map[int]bool{}
				for _, o := range res.ops {
					pids[o.pid] = true
				}
				if len(pids) != c.count {
					t.Errorf("%d distinct pids, want %d", len(pids), c.count)
				}
			}
		})
	}
	if _, err := spawn(spawnConfig{kind: stormConnect, count: 1, streams: 1, addr: "10.0.0.1:80"}); err == nil {
		t.Error("a connect storm to a non-loopback address started")
	}
}

// The auditd-pack agent installs the default pack's rules: every line of
// rules/audit.rules but the per-container templates, each an auditctl add,
// with the execve rule whose records the harness counts.
func TestPackRules(t *testing.T) {
	got, err := packRules(func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, l := range strings.Split(rules.AuditRules, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "container ") {
			want++
		}
	}
	if len(got) != want || want < 10 {
		t.Fatalf("%d rules, want %d (the pack's non-template lines)", len(got), want)
	}
	for _, r := range got {
		if r[0] != "-a" {
			t.Errorf("rule %q is not an add", r)
		}
		if d := deleteArgs(r); d[0] != "-d" || !slices.Equal(d[1:], r[1:]) || r[0] != "-a" {
			t.Errorf("delete of %q is %q", r, d)
		}
	}
}

// A rule on a path whose directory this host lacks is left out, as ruled
// leaves it out (the kernel refuses it).
func TestPackRulesSkipMissingDirectories(t *testing.T) {
	all, err := packRules(func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	some, err := packRules(func(dir string) bool { return dir != "/root/.ssh" })
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := audit.ParseRules(rules.AuditRules, 0, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	var ssh int
	for _, r := range parsed {
		if !r.Container && r.HostDir() == "/root/.ssh" {
			ssh++
		}
	}
	if ssh == 0 || len(some) != len(all)-ssh {
		t.Errorf("%d rules with /root/.ssh missing, want %d of %d minus its %d", len(some), len(all)-ssh, len(all), ssh)
	}
}

func TestAddedRules(t *testing.T) {
	before := "-a always,exit -F arch=b64 -S mount -F key=host\n"
	now := before + "-a always,exit -F arch=b64 -S execve,execveat -F key=exec\n-w /etc -p wa\n"
	got := addedRules(before, now)
	want := [][]string{{"-a", "always,exit", "-F", "arch=b64", "-S", "execve,execveat", "-F", "key=exec"}}
	if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
		t.Errorf("added rules %q, want %q", got, want)
	}
	if got := addedRules("No rules\n", "No rules\n"); len(got) != 0 {
		t.Errorf("no change: %q", got)
	}
}

// spawnEnv makes the test binary run the spawner subcommand (TestMain).
const spawnEnv = "RULED_LOAD_TEST_SPAWN"

func TestMain(m *testing.M) {
	if os.Getenv(spawnEnv) != "" {
		os.Exit(runSpawn(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// The spawner subcommand's exec storm: with either stdio mode the children
// write to /dev/null, not into the result the harness reads from the
// spawner's stdout (/bin/echo prints its argument).
func TestSpawnSubcommandStdio(t *testing.T) {
	for _, mode := range []string{stdioInherit, stdioDup} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-kind", stormExec, "-count", "5", "-streams", "1", "-target", "/bin/echo", "-stdio", mode)
			cmd.Env = append(os.Environ(), spawnEnv+"=1")
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("spawner: %v: %s", err, errb.Bytes())
			}
			res, err := parseResult(&out)
			if err != nil {
				t.Fatalf("result %q: %v", out.Bytes(), err)
			}
			if len(res.ops) != 5 || res.errors != 0 {
				t.Errorf("%d operations, %d errors; want 5, 0", len(res.ops), res.errors)
			}
			if errb.Len() != 0 {
				t.Errorf("stderr %q", errb.Bytes())
			}
		})
	}
	if _, err := spawn(spawnConfig{kind: stormExec, count: 1, streams: 1, target: "/bin/true", stdio: "tty"}); err == nil {
		t.Error("an unknown stdio mode was accepted")
	}
}

// TestDescendantsCountTowardTheAgent: a process the agent started (ruled's
// exec readers) is found below it, so its CPU and memory count as the
// agent's.
func TestDescendantsCountTowardTheAgent(t *testing.T) {
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	d := descendants(os.Getpid())
	if !slices.Contains(d, cmd.Process.Pid) {
		t.Errorf("descendants %v lack the child %d", d, cmd.Process.Pid)
	}
	if own, err := cpuTicks(os.Getpid(), d); err != nil || own < 0 {
		t.Errorf("cpuTicks: %d, %v", own, err)
	}
	if m := peakRSS(os.Getpid(), d); math.IsNaN(m) || m <= 0 {
		t.Errorf("peakRSS: %v", m)
	}
}

// TestSummarize: medians per agent and stream count over the runs, and
// each run's cost against auditd's in that same run.
func TestSummarize(t *testing.T) {
	nan := math.NaN()
	rows := []row{
		{run: 1, streams: 1, agent: agentNothing, storm: stormExec, rate: 1000, cost: nan, cpuPerOp: nan, hostCPU: 900},
		{run: 1, streams: 1, agent: agentAuditd, storm: stormExec, rate: 800, cost: 20, cpuPerOp: 100, hostCPU: 1100},
		{run: 1, streams: 1, agent: "ruled", storm: stormExec, rate: 850, cost: 15, cpuPerOp: 80, hostCPU: 1080},
		{run: 2, streams: 1, agent: agentNothing, storm: stormExec, rate: 900, cost: nan, cpuPerOp: nan, hostCPU: 950},
		{run: 2, streams: 1, agent: agentAuditd, storm: stormExec, rate: 810, cost: 10, cpuPerOp: 90, hostCPU: 1000},
		{run: 2, streams: 1, agent: "ruled", storm: stormExec, rate: 792, cost: 12, cpuPerOp: 70, hostCPU: 1030},
		{run: 3, streams: 1, agent: agentAuditd, storm: stormExec, rate: 700, cost: 30, cpuPerOp: 120, hostCPU: nan},
		{run: 3, streams: 1, agent: "ruled", storm: stormExec, rate: 750, cost: 25, cpuPerOp: 60, hostCPU: 1200},
	}
	ss := summarize(rows)
	if len(ss) != 3 {
		t.Fatalf("%d summaries, want 3 (nothing, auditd, ruled): %+v", len(ss), ss)
	}
	r := ss[2]
	if r.agent != "ruled" || r.runs != 3 || r.rate != 792 || r.cost != 15 || r.cpu != 70 || r.costMin != 12 || r.costMax != 25 {
		t.Errorf("ruled: %+v", r)
	}
	if want := []float64{-5, -5, 2}; !slices.Equal(r.vsAuditd, want) {
		t.Errorf("ruled against auditd, each run: %v, want %v", r.vsAuditd, want)
	}
	// Run 3's auditd host CPU is unknown: no pair.
	if want := []float64{-20, 30}; !slices.Equal(r.hostVsAuditd, want) || r.host != 1080 {
		t.Errorf("ruled's host CPU: median %v, against auditd %v; want 1080, %v", r.host, r.hostVsAuditd, want)
	}
	if a := ss[1]; a.vsAuditd != nil || a.cost != 20 {
		t.Errorf("auditd: %+v", a)
	}
	if n := ss[0]; !math.IsNaN(n.cost) || n.rate != 950 {
		t.Errorf("nothing: %+v", n)
	}
	var b strings.Builder
	printSummary(&b, ss)
	if !strings.Contains(b.String(), "| 1 | ruled | exec | 3 | 792 | 15% | 12–25% | -5, -5, +2 | 70 | 1080 | -20, +30 |") {
		t.Errorf("summary table:\n%s", b.String())
	}
}
