// Command load is ruled's load harness (`make load`, root): it runs storms of
// fork+exec, loopback connects and file writes side by side against no
// agent, auditd with one execve rule, ruled with both sources and the
// default pack, and ruled with the proc connector only, and prints one
// table: operations per second, the throughput cost against no agent, the
// agent's CPU per operation, what the agent saw and lost, its peak RSS and
// the exec-to-alert latency.
//
// The storms run in a child process (`load spawn`), a Go loop of
// fork+exec+wait (or connect, or open+write+close) per stream, not a shell.
// Audit is borrowed: the harness refuses to start when an audit daemon
// holds the kernel's slot, and puts back the enabled flag, backlog settings
// and rule list it found, even when interrupted. BENCHMARKS.md records its
// table and the command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "spawn" {
		os.Exit(runSpawn(os.Args[2:]))
	}
	// auditd and ruled must not keep the harness's inherited descriptors:
	// under `flock /tmp/ruled-kernel.lock make load` one is the lock, which a
	// daemon would hold after the harness ends.
	e2e.CloseInheritedOnExec()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Agents the harness compares.
const (
	agentNothing = "nothing"
	agentAuditd  = "auditd"
	// auditd with the kernel audit rules the default pack installs
	// (rules/audit.rules) instead of one execve rule: the kernel's share
	// of ruled's cost (rule checks at every audited system call, records)
	// without ruled.
	agentAuditdPack = "auditd-pack"
	agentRuled      = "ruled"
	agentProcconn   = "procconn"
)

type config struct {
	count, ops, repeat, procs int
	streams                   []int
	target                    string
	stdio                     string // the exec storm's children's 0-2 (spawner -stdio)
	ruled                     []ruledBin
	agents, storms            []string
	profile                   string
	memProfile                bool
	dir                       string
	keep                      bool
	drain                     time.Duration
}

// ruledBin is one ruled binary under test; several (a build before and
// after a change) run side by side in one run.
type ruledBin struct{ label, path string }

func parseRuled(s string) ([]ruledBin, error) {
	var out []ruledBin
	for _, item := range strings.Split(s, ",") {
		label, path, ok := strings.Cut(item, "=")
		if !ok {
			label, path = "", item
		}
		if path == "" {
			return nil, fmt.Errorf("-ruled %q: empty path", s)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("-ruled: %w (make build)", err)
		}
		out = append(out, ruledBin{label: label, path: abs})
	}
	return out, nil
}

// parseInts reads a comma list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, v := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want positive integers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func splitList(s string, allowed ...string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if !slices.Contains(allowed, v) {
			return nil, fmt.Errorf("unknown %q (want %s)", v, strings.Join(allowed, ", "))
		}
		out = append(out, v)
	}
	return out, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c                       config
		ruledList, agents, strm string
		streams                 string
	)
	fs.IntVar(&c.count, "count", 6000, "execs per exec storm")
	fs.IntVar(&c.ops, "ops", 6000, "operations per connect and write storm")
	fs.StringVar(&streams, "streams", "1,2", "concurrent loops per storm: a comma list runs the whole sequence at each")
	fs.IntVar(&c.procs, "procs", 10000, "live processes of the procs row (RSS of ruled while they live)")
	fs.StringVar(&c.target, "target", "/bin/true", "binary the exec storm runs")
	fs.StringVar(&c.stdio, "stdio", stdioInherit, "the exec storm's children's descriptors 0-2: inherit (/dev/null, set once in the spawner: no system call between fork and exec, as a plain C fork+exec loop) or dup (each child dup2s /dev/null onto 0-2: three dup_stdio audit events per exec with the default pack)")
	fs.IntVar(&c.repeat, "repeat", 1, "run the whole sequence this many times (spread on a noisy machine)")
	fs.StringVar(&ruledList, "ruled", "bin/ruled", "ruled binary, or a comma list of LABEL=PATH to compare builds side by side")
	fs.StringVar(&agents, "agents", "nothing,auditd,ruled,procconn", "agents to run, in this order")
	fs.StringVar(&strm, "storms", "exec,connect,write,procs", "storms: exec (every agent), connect, write and open (reads: ruled must report none) (nothing and ruled), procs (ruled's RSS with -procs sleeping processes alive; ruled and procconn)")
	fs.StringVar(&c.profile, "profile", "", "directory for CPU profiles of each ruled run (go tool pprof -top BIN FILE)")
	fs.BoolVar(&c.memProfile, "memprofile", false, "with -profile, also an allocation profile of each ruled run (FILE.allocs; every -ruled build must have ruled's -memprofile flag)")
	fs.StringVar(&c.dir, "dir", "", "working directory (default: a new temporary one, removed unless -keep)")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory (alerts, agent logs, audit.log)")
	fs.DurationVar(&c.drain, "drain", 10*time.Second, "longest wait for an agent's reports after a storm ends (it ends sooner when nothing new comes for 2s)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if c.agents, err = splitList(agents, agentNothing, agentAuditd, agentAuditdPack, agentRuled, agentProcconn); err != nil {
		fmt.Fprintln(stderr, "load: -agents:", err)
		return 2
	}
	if c.storms, err = splitList(strm, stormExec, stormConnect, stormWrite, stormOpen, stormProcs); err != nil {
		fmt.Fprintln(stderr, "load: -storms:", err)
		return 2
	}
	if c.streams, err = parseInts(streams); err != nil {
		fmt.Fprintln(stderr, "load: -streams:", err)
		return 2
	}
	if c.count <= 0 || c.ops <= 0 || c.repeat <= 0 || c.procs <= 0 {
		fmt.Fprintln(stderr, "load: -count, -ops, -procs and -repeat must be positive")
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "load: needs root (kernel audit, proc connector)")
		return 1
	}
	if slices.Contains(c.agents, agentRuled) || slices.Contains(c.agents, agentProcconn) {
		if c.ruled, err = parseRuled(ruledList); err != nil {
			fmt.Fprintln(stderr, "load:", err)
			return 2
		}
	}
	if c.target, err = exec.LookPath(c.target); err != nil {
		fmt.Fprintln(stderr, "load: -target:", err)
		return 2
	}
	if c.profile != "" {
		if err := os.MkdirAll(c.profile, 0o755); err != nil {
			fmt.Fprintln(stderr, "load:", err)
			return 1
		}
		if c.profile, err = filepath.Abs(c.profile); err != nil {
			fmt.Fprintln(stderr, "load:", err)
			return 1
		}
	}

	found, err := readAuditState()
	if err != nil {
		fmt.Fprintln(stderr, "load:", err)
		return 1
	}
	if err := found.checkFree(); err != nil {
		fmt.Fprintln(stderr, "load:", err)
		return 1
	}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "ruled-load-"); err != nil {
			fmt.Fprintln(stderr, "load:", err)
			return 1
		}
		if !c.keep {
			defer os.RemoveAll(c.dir)
		}
	} else if err := os.MkdirAll(c.dir, 0o755); err != nil {
		fmt.Fprintln(stderr, "load:", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &harness{cfg: c, log: stderr, kauditd: findKauditd()}
	rows, runErr := h.runAll(ctx)
	restoreErr := found.restore()

	fmt.Fprintf(stdout, "\ncommand: load %s\n", strings.Join(args, " "))
	fmt.Fprintf(stdout, "exec target %s (children's stdio: %s), %d execs and %d connect/write operations per storm, %s streams, %d live processes in the procs row, %d CPUs\n\n", c.target, c.stdio, c.count, c.ops, streams, c.procs, cpus())
	printTable(stdout, rows)
	if c.repeat > 1 {
		fmt.Fprintf(stdout, "\nover the %d runs:\n\n", c.repeat)
		printSummary(stdout, summarize(rows))
	}
	if c.keep {
		fmt.Fprintln(stdout, "\nworking directory kept:", c.dir)
	}
	code := 0
	if runErr != nil {
		fmt.Fprintln(stderr, "load:", runErr)
		code = 1
	}
	if restoreErr != nil {
		fmt.Fprintln(stderr, "load: audit state not as found:", restoreErr)
		code = 1
	}
	return code
}

type harness struct {
	cfg  config
	log  io.Writer
	base map[string]float64 // ops/s of each storm with no agent, this repetition
	// Where the current agent's connect and write storms go (its rules
	// name them).
	connectAddr, writeDir string
	run                   int // repetition, from 1
	streams               int // concurrent loops of this pass
	kauditd               int // the kernel's audit thread (host CPU), 0 if none
}

// row is one line of the table.
type row struct {
	run, streams int
	agent, storm string
	ops, errors  int
	rate         float64 // operations per second
	cost         float64 // % of the no-agent rate lost; NaN without a baseline
	cpuPerOp     float64 // µs of agent CPU per operation; NaN without an agent
	// hostCPU is the CPU per operation (µs) of the storm's own processes,
	// the agent and kauditd: what the operation cost the host, which the
	// hypervisor's pauses do not inflate as they do the rate. NaN when
	// unknown.
	hostCPU  float64
	seen     int     // operations the agent reported
	complete int     // ... with exe, argv and container id (exec storms)
	rssMiB   float64 // agent's peak RSS
	p50, p99 float64 // ms from an exec's start to its report; NaN when not measured
	steal    float64 // % of the machine's CPU time its hypervisor took during the storm
}

func (h *harness) runAll(ctx context.Context) ([]row, error) {
	var rows []row
	for r := 1; r <= h.cfg.repeat; r++ {
		for _, st := range h.cfg.streams {
			got, err := h.runPass(ctx, r, st)
			rows = append(rows, got...)
			if err != nil {
				return rows, err
			}
		}
	}
	return rows, nil
}

// runPass runs every agent once at one number of streams.
func (h *harness) runPass(ctx context.Context, r, streams int) ([]row, error) {
	var rows []row
	h.base, h.run, h.streams = map[string]float64{}, r, streams
	for _, a := range h.cfg.agents {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		var (
			got []row
			err error
		)
		switch a {
		case agentNothing:
			got, err = h.runNothing(ctx)
		case agentAuditd, agentAuditdPack:
			got, err = h.runAuditd(ctx, a)
		case agentRuled, agentProcconn:
			for _, b := range h.cfg.ruled {
				var g []row
				g, err = h.runRuled(ctx, b, a == agentProcconn)
				got = append(got, g...)
				if err != nil {
					break
				}
			}
		}
		for i := range got {
			got[i].run, got[i].streams = r, streams
		}
		rows = append(rows, got...)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", a, err)
		}
	}
	return rows, nil
}

// passDir is the working directory of this repetition and stream count.
func (h *harness) passDir() string {
	return filepath.Join(h.cfg.dir, "run"+strconv.Itoa(h.run)+"-streams"+strconv.Itoa(h.streams))
}

func (h *harness) runNothing(ctx context.Context) ([]row, error) {
	h.connectAddr, h.writeDir = "127.0.0.1:0", filepath.Join(h.passDir(), agentNothing, "writes")
	if err := os.MkdirAll(h.writeDir, 0o755); err != nil {
		return nil, err
	}
	var rows []row
	for _, s := range h.cfg.storms {
		if s == stormProcs {
			continue // the agent's RSS: nothing to compare with
		}
		times := h.startStormTimes()
		res, err := h.spawn(ctx, s)
		if err != nil {
			return rows, err
		}
		r := h.newRow(agentNothing, s, res)
		times.fill(&r, res)
		h.base[s] = r.rate
		r.cost = math.NaN()
		rows = append(rows, r)
	}
	return rows, nil
}

func (h *harness) runAuditd(ctx context.Context, agent string) ([]row, error) {
	if !slices.Contains(h.cfg.storms, stormExec) {
		return nil, nil
	}
	rules, key := [][]string{harnessRule}, auditKey
	if agent == agentAuditdPack {
		var err error
		if rules, err = packRules(isDir); err != nil {
			return nil, err
		}
		key = packExecKey
	}
	h.progress("%s: starting", agent)
	a, err := startAuditd(filepath.Join(h.passDir(), agent), rules)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	r, err := h.measure(ctx, agent, stormExec, a.pid(), newTailer(a.log, auditdParser(key)))
	if err != nil {
		return nil, err
	}
	return []row{r}, nil
}

// ruledRules is the local rules file added to the default pack: one rule
// per storm, so every operation of a storm raises one alert the harness
// can count and time.
func ruledRules(target, port, dir string) string {
	return fmt.Sprintf(`# Written by the load harness (test/load): one alert per storm operation.
- rule: ruled-load exec
  desc: An exec of the load harness's target.
  condition: evt.type == "execve" and proc.exe == %q
  output: load exec (exe=%%proc.exe container=%%container.id)
  priority: NOTICE
- rule: ruled-load connect
  desc: A connect of the load harness's connect storm.
  condition: evt.type == "connect" and fd.rport == %s
  output: load connect (fd=%%fd.name)
  priority: NOTICE
- rule: ruled-load write
  desc: An open for writing of the load harness's write storm.
  condition: evt.type == "open" and file.path startsWith %q
  output: load write (file=%%file.path)
  priority: NOTICE
`, target, port, dir+"/")
}

func (h *harness) runRuled(ctx context.Context, b ruledBin, procconnOnly bool) ([]row, error) {
	label := agentRuled
	if procconnOnly {
		label = agentProcconn
	}
	if b.label != "" {
		label += " " + b.label
	}
	storms := h.cfg.storms
	if procconnOnly {
		// Connects and writes are audit's: without it ruled sees none.
		storms = slices.DeleteFunc(slices.Clone(storms), func(s string) bool { return s != stormExec && s != stormProcs })
	}
	if len(storms) == 0 {
		return nil, nil
	}
	name := strings.ReplaceAll(label, " ", "-")
	dir := filepath.Join(h.passDir(), name)
	writeDir := filepath.Join(dir, "writes")
	if err := os.MkdirAll(writeDir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	h.connectAddr = "127.0.0.1:" + port
	h.writeDir = writeDir
	exe, err := filepath.EvalSymlinks(h.cfg.target)
	if err != nil {
		return nil, err
	}
	rules := filepath.Join(dir, "load.yaml")
	cfgFile := filepath.Join(dir, "ruled.yaml")
	alerts := filepath.Join(dir, "alerts.json")
	if err := os.WriteFile(rules, []byte(ruledRules(exe, port, writeDir)), 0o644); err != nil {
		return nil, err
	}
	// No rate limit: every operation must raise its alert.
	if err := os.WriteFile(cfgFile, []byte("rate_limit:\n  rate: -1\nstats_interval: 1h\n"), 0o644); err != nil {
		return nil, err
	}
	args := []string{"-config", cfgFile, "-rules", "builtin", "-rules", rules, "-output", "file:" + alerts}
	if procconnOnly {
		args = append(args, "-sources", "procconn")
	}
	if h.cfg.profile != "" {
		prof := filepath.Join(h.cfg.profile, name+"-run"+strconv.Itoa(h.run)+"-streams"+strconv.Itoa(h.streams)+".pprof")
		args = append(args, "-cpuprofile", prof)
		if h.cfg.memProfile {
			args = append(args, "-memprofile", prof+".allocs")
		}
	}
	logf, err := os.Create(filepath.Join(dir, "ruled.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	h.progress("%s: starting %s %s", label, b.path, strings.Join(args, " "))
	cmd := exec.Command(b.path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			stopProcess(cmd, 15*time.Second)
		}
	}()
	if err := h.awaitReady(ctx, cmd, alerts, "ruled-load exec"); err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, logf.Name())
	}
	var rows []row
	for _, s := range storms {
		if s == stormProcs {
			r, err := h.measureProcs(ctx, label, cmd.Process.Pid)
			if err != nil {
				return rows, err
			}
			rows = append(rows, r)
			continue
		}
		r, err := h.measure(ctx, label, s, cmd.Process.Pid, newTailer(alerts, ruledParser("ruled-load "+s)))
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
	stopProcess(cmd, 15*time.Second)
	stopped = true
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		return rows, fmt.Errorf("%s exited with %d (log: %s)", label, code, logf.Name())
	}
	return rows, nil
}

// awaitReady execs the target until the agent alerts on one of those execs:
// then its sources, rules and output all run.
func (h *harness) awaitReady(ctx context.Context, agent *exec.Cmd, alerts, rule string) error {
	tl := newTailer(alerts, ruledParser(rule))
	probes := map[int]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if agent.ProcessState != nil {
			return errors.New("agent exited during start")
		}
		p := exec.Command(h.cfg.target, targetArg)
		if err := p.Run(); err == nil {
			probes[p.Process.Pid] = true
		}
		time.Sleep(200 * time.Millisecond)
		if err := tl.poll(); err != nil {
			return err
		}
		for _, s := range tl.sightings() {
			if probes[s.pid] {
				return nil
			}
		}
	}
	return errors.New("agent not alerting on the target 30s after start")
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

func (h *harness) progress(format string, args ...any) {
	fmt.Fprintf(h.log, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
