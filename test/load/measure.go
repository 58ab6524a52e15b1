package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/test/e2e"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// spawn runs one storm in a child process and returns its result.
func (h *harness) spawn(ctx context.Context, storm string) (spawnResult, error) {
	self, err := os.Executable()
	if err != nil {
		return spawnResult{}, err
	}
	n := h.cfg.count
	if storm != stormExec {
		n = h.cfg.ops
	}
	cmd := exec.CommandContext(ctx, self, "spawn", "-kind", storm, "-count", strconv.Itoa(n),
		"-streams", strconv.Itoa(h.streams), "-target", h.cfg.target, "-stdio", h.cfg.stdio, "-addr", h.connectAddr, "-dir", h.writeDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, h.log
	before := e2e.ReadCPUStat()
	if err := cmd.Run(); err != nil {
		return spawnResult{}, fmt.Errorf("%s storm: %w", storm, err)
	}
	res, err := parseResult(&out)
	res.steal = e2e.StealSince(before)
	// wait4's usage of the spawner counts the children it reaped.
	res.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return res, err
}

// stormTimes is the CPU the host spent on one storm besides the agent's:
// the storm's own processes and the kernel's audit thread (kauditd, which
// formats and sends audit's records for auditd and ruled alike).
type stormTimes struct {
	kauditd int   // its pid, 0 when not found
	ticks0  int64 // its ticks before the storm
}

// startStormTimes reads kauditd's ticks before a storm.
func (h *harness) startStormTimes() stormTimes {
	st := stormTimes{kauditd: h.kauditd}
	if st.kauditd != 0 {
		if t, err := cpuTicks(st.kauditd, nil); err == nil {
			st.ticks0 = t
		} else {
			st.kauditd = 0
		}
	}
	return st
}

// fill sets r's host CPU per operation: the storm's processes,
// plus the agent's (unless NaN) and kauditd's since startStormTimes.
func (st stormTimes) fill(r *row, res spawnResult) {
	if len(res.ops) == 0 || res.cpu <= 0 {
		return
	}
	ops := float64(len(res.ops))
	r.hostCPU = float64(res.cpu.Microseconds()) / ops
	if !math.IsNaN(r.cpuPerOp) {
		r.hostCPU += r.cpuPerOp
	}
	if st.kauditd != 0 {
		if t, err := cpuTicks(st.kauditd, nil); err == nil {
			r.hostCPU += float64(t-st.ticks0) / clockTicks * 1e6 / ops
		}
	}
}

// findKauditd returns the pid of the kernel's audit thread, or 0.
func findKauditd() int {
	proc := procfs.New(procfs.Dir("/proc"))
	pids, err := proc.PIDs()
	if err != nil {
		return 0
	}
	for _, pid := range pids {
		if comm, err := proc.Comm(pid); err == nil && comm == "kauditd" {
			return pid
		}
	}
	return 0
}

// measure runs a storm while agent (pid) reports it into tl, waits for the
// reports to stop coming, and fills a row.
func (h *harness) measure(ctx context.Context, agent, storm string, pid int, tl *tailer) (row, error) {
	h.progress("%s: %s storm", agent, storm)
	kids := descendants(pid)
	cpu0, err := cpuTicks(pid, kids)
	if err != nil {
		return row{}, err
	}
	stop := make(chan struct{})
	followErr := make(chan error, 1)
	go func() { followErr <- tl.follow(stop, time.Millisecond) }()
	times := h.startStormTimes()
	res, err := h.spawn(ctx, storm)
	if err != nil {
		close(stop)
		<-followErr
		return row{}, err
	}
	// Drain: until every operation was reported, nothing new came for two
	// seconds, or the drain limit passed.
	deadline := time.Now().Add(h.cfg.drain)
	last, lastChange := -1, time.Now()
	for time.Now().Before(deadline) {
		n := match(storm, res, tl.sightings()).seen
		if n >= len(res.ops) {
			break
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 2*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	if err := <-followErr; err != nil {
		return row{}, err
	}
	cpu1, err := cpuTicks(pid, kids)
	if err != nil {
		return row{}, err
	}
	r := h.newRow(agent, storm, res)
	m := match(storm, res, tl.sightings())
	r.seen, r.complete = m.seen, m.complete
	if len(res.ops) > 0 {
		r.cpuPerOp = float64(cpu1-cpu0) / clockTicks * 1e6 / float64(len(res.ops))
	}
	if len(m.lat) > 0 {
		r.p50, r.p99 = percentile(m.lat, 50), percentile(m.lat, 99)
	}
	r.rssMiB = peakRSS(pid, kids)
	times.fill(&r, res)
	return r, nil
}

// newRow fills the agent-independent columns.
func (h *harness) newRow(agent, storm string, res spawnResult) row {
	r := row{agent: agent, storm: storm, ops: len(res.ops), errors: res.errors, steal: res.steal,
		cost: math.NaN(), cpuPerOp: math.NaN(), p50: math.NaN(), p99: math.NaN(), rssMiB: math.NaN(),
		hostCPU: math.NaN()}
	if res.elapsed > 0 {
		r.rate = float64(len(res.ops)) / res.elapsed.Seconds()
	}
	if b, ok := h.base[storm]; ok && b > 0 {
		r.cost = (1 - r.rate/b) * 100
	}
	return r
}

// matched is what an agent reported of a storm.
type matched struct {
	seen, complete int
	lat            []float64 // ms from exec start to report, one per seen exec
}

// match joins the agent's sightings with the storm's operations: an exec by
// its pid (the first report counts), a connect or write by the spawner's
// pid (one report per operation).
func match(storm string, res spawnResult, seen []sighting) matched {
	var m matched
	if storm != stormExec {
		for _, s := range seen {
			if s.pid == res.self {
				m.seen++
				m.complete++
			}
		}
		return m
	}
	start := make(map[int]int64, len(res.ops))
	for _, o := range res.ops {
		start[o.pid] = o.start
	}
	for _, s := range seen {
		t0, ok := start[s.pid]
		if !ok {
			continue
		}
		delete(start, s.pid)
		m.seen++
		if s.complete {
			m.complete++
		}
		m.lat = append(m.lat, float64(s.at.UnixNano()-t0)/1e6)
	}
	return m
}

// percentile is the nearest-rank percentile p of xs (sorted in place).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	i := int(math.Ceil(p/100*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

// cpuTicks is the CPU used by pid and kids, the processes it started
// (descendants: ruled's exec readers and audit guardian), every thread,
// live and exited, in clock ticks: utime+stime of pid and of each kid
// still there, and the cutime+cstime each has of the children it reaped.
// The kids are found once per row, not per call: a scan reads every
// process's stat, 10,000 of them in the procs row, whose settling polls
// this every 100 ms.
func cpuTicks(pid int, kids []int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	total, err := parseStatCPU(b)
	if err != nil {
		return 0, err
	}
	for _, c := range kids {
		// One gone since the scan has its ticks in its parent's
		// cutime once reaped.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(c) + "/stat"); err == nil {
			if n, err := parseStatCPU(b); err == nil {
				total += n
			}
		}
	}
	return total, nil
}

// parseStatCPU reads fields 14-17 (utime, stime, cutime, cstime) of a
// /proc/PID/stat line and returns their sum; the command name (field 2)
// may hold spaces and parentheses, so the fields are counted from the
// last ')'.
func parseStatCPU(b []byte) (int64, error) {
	f, err := statFields(b)
	if err != nil {
		return 0, err
	}
	// f[0] is field 3 (state): utime is field 14, f[11].
	if len(f) < 15 {
		return 0, fmt.Errorf("stat: %d fields after the command", len(f))
	}
	var sum int64
	for i, name := range []string{"utime", "stime", "cutime", "cstime"} {
		v, err := strconv.ParseInt(f[11+i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat %s: %w", name, err)
		}
		sum += v
	}
	return sum, nil
}

// statFields returns the fields of a /proc/PID/stat line after the
// command name, from field 3 (state) on.
func statFields(b []byte) ([]string, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("stat: no ')' in %q", b)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// descendants returns the live processes below pid.
func descendants(pid int) []int {
	proc := procfs.New(procfs.Dir("/proc"))
	pids, _ := proc.PIDs()
	children := map[int][]int{}
	for _, c := range pids {
		if st, err := proc.Stat(c); err == nil {
			children[st.PPID] = append(children[st.PPID], c)
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// peakRSS is the memory of pid and kids (see cpuTicks), in MiB: the VmHWM
// of pid, plus what each kid still there has of its own (Private_Clean +
// Private_Dirty; the pages of ruled's binary an exec reader shares with
// the agent are counted once). NaN when unreadable.
func peakRSS(pid int, kids []int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return math.NaN()
	}
	kb, ok := statusKB(b, "VmHWM")
	if !ok {
		return math.NaN()
	}
	for _, c := range kids {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(c) + "/smaps_rollup"); err == nil {
			for _, name := range []string{"Private_Clean", "Private_Dirty"} {
				if n, ok := statusKB(b, name); ok {
					kb += n
				}
			}
		}
	}
	return float64(kb) / 1024
}

// statusKB reads a "Name:   N kB" line of /proc/PID/status.
func statusKB(b []byte, name string) (int64, bool) {
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func cpus() int { return runtime.NumCPU() }

// printTable writes the rows as a Markdown table (BENCHMARKS.md takes it
// as it is).
func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| run | streams | agent | storm | ops | ops/s | cost | agent CPU µs/op | host CPU µs/op | seen | complete | lost | RSS peak MiB | exec→report p50 | p99 | steal |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		seen, complete, lost := "—", "—", "—"
		if r.agent != agentNothing && r.storm != stormProcs {
			// An operation reported twice (seen above ops) is no loss.
			seen, complete, lost = strconv.Itoa(r.seen), strconv.Itoa(r.complete), strconv.Itoa(max(0, r.ops-r.seen))
			if r.storm != stormExec {
				complete = "—"
			}
		}
		ops := strconv.Itoa(r.ops)
		if r.errors > 0 {
			ops += fmt.Sprintf(" (%d failed)", r.errors)
		}
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.run, r.streams, r.agent, r.storm, ops, num(r.rate, "%.0f"), num(r.cost, "%.0f%%"), num(r.cpuPerOp, "%.0f"),
			num(r.hostCPU, "%.0f"), seen, complete, lost, num(r.rssMiB, "%.1f"), num(r.p50, "%.1f ms"), num(r.p99, "%.1f ms"), num(r.steal, "%.0f%%"))
	}
}

func num(v float64, format string) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf(format, v)
}
