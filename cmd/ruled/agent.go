package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/outputs"
	"github.com/ruled/ruled/outputs/respond"
	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/pipeline"
	"github.com/ruled/ruled/sources/sensors/audit"
	"github.com/ruled/ruled/sources/sensors/replay"
)

// agentFlags are the agent's command line.
type agentFlags struct {
	rules, outputs rulePaths
	config         string
	sources        string
	replay         string
	auditMode      string
	auditRules     string
	logLevel       string
	statsEvery     time.Duration
	metricsAddr    string
	cpuProfile     string
	memProfile     string
}

func (f *agentFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.rules, "rules", "rule file or directory, or builtin for the embedded pack (repeatable; default builtin)")
	fs.Var(&f.outputs, "output", "alert output: stdout, json, file:PATH, syslog://unix/dev/log, syslog+udp://H:P, syslog+tcp://H:P, webhook+http(s)://..., falco+http(s)://... (repeatable; default stdout)")
	fs.StringVar(&f.config, "config", "", "YAML config file (see ruled.example.yaml); flags override it")
	fs.StringVar(&f.sources, "sources", "", "live sources, comma list of audit,procconn (default: both where possible)")
	fs.StringVar(&f.replay, "replay", "", "read events from FILE (auditd log or JSON lines) instead of the kernel")
	fs.StringVar(&f.auditMode, "audit-mode", "", "audit mode: auto, unicast (become the audit daemon) or multicast (read beside auditd)")
	fs.StringVar(&f.auditRules, "audit-rules", "", "audit rules file in auditctl syntax (default: embedded rules/audit.rules)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (default info)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on HOST:PORT at /metrics (default: off)")
	fs.DurationVar(&f.statsEvery, "stats-interval", 0, "log source and output counters this often (default 1m; 0 keeps the default)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to FILE (for go tool pprof)")
	fs.StringVar(&f.memProfile, "memprofile", "", "write an allocation profile of the whole run to FILE at exit (go tool pprof -sample_index=alloc_space)")
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if level == "" {
		level = "info"
	}
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: event.EscapeLogAttr})), nil
}

// loadEngine compiles the agent's rules with its rate limit and hostname.
func loadEngine(paths rulePaths, rl engine.RateLimit, hostname string, log *slog.Logger) (*engine.Engine, error) {
	return compileRules(paths, engine.Options{RateLimit: rl, Hostname: hostname, Logger: log})
}

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// SIGHUP is caught from the start: a logrotate while the agent loads
	// its rules or reads /proc must not kill it (the default action). One
	// that arrives before the reloader runs is kept for it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fs := flag.NewFlagSet("ruled", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		usage(stderr)
		fs.PrintDefaults()
	}
	var f agentFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ruled: unexpected argument %q (subcommands: validate, test, events, ps, netstat, inspect, recover, version)\n", fs.Arg(0))
		return exitUsage
	}

	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "ruled:", err)
			return exitError
		}
		defer stop()
	}
	if f.memProfile != "" {
		defer writeAllocProfile(f.memProfile, stderr)
	}

	cfg := &fileConfig{}
	if f.config != "" {
		c, err := loadConfig(f.config)
		if err != nil {
			fmt.Fprintln(stderr, "ruled:", err)
			return exitError
		}
		cfg = c
	}
	level := f.logLevel
	if level == "" {
		level = cfg.LogLevel
	}
	log, err := newLogger(stderr, level)
	if err != nil {
		fmt.Fprintln(stderr, "ruled:", err)
		return exitUsage
	}

	paths := f.rules
	if len(paths) == 0 {
		paths = cfg.Rules
	}
	var rl engine.RateLimit
	if cfg.RateLimit != nil {
		rl = engine.RateLimit{Rate: cfg.RateLimit.Rate, Burst: cfg.RateLimit.Burst}
	}
	hostname := cfg.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	eng, err := loadEngine(paths, rl, hostname, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	var current atomic.Pointer[engine.Engine]
	current.Store(eng)
	var totals engineTotals // counts of the rule sets a SIGHUP replaced
	engineStats := func() engine.Stats { return totals.stats(current.Load()) }
	log.Info("rules loaded", "rules", len(eng.Rules()), "paths", strings.Join(paths.orBuiltin(), ","))

	specs := cfg.Outputs
	if len(f.outputs) > 0 {
		specs = nil
		for _, s := range f.outputs {
			sp, err := outputs.ParseSpec(s)
			if err != nil {
				fmt.Fprintf(stderr, "ruled: -output %s: %v\n", s, err)
				return exitUsage
			}
			specs = append(specs, sp)
		}
	}
	if len(specs) == 0 {
		sp, _ := outputs.ParseSpec("stdout")
		specs = []outputs.Spec{sp}
	}
	stage, err := outputs.NewStage(specs, outputs.StageOptions{Logger: log, Hostname: hostname, Stdout: stdout, DrainTimeout: cfg.DrainTimeout})
	if err != nil {
		fmt.Fprintln(stderr, "ruled:", err)
		return exitError
	}

	resp, err := newResponder(cfg, f.replay != "", stage, log)
	if err != nil {
		fmt.Fprintln(stderr, "ruled:", err)
		return exitError
	}
	// The event path: a replay file, or the live sensors.
	pc := pipeline.Config{
		Rules: current.Load,
		Alert: func(a event.Alert) {
			stage.Send(a)
			if resp != nil {
				resp.Offer(a)
			}
		},
		Logger: log,
	}
	var replaySrc *replay.Source
	if f.replay != "" {
		replaySrc = replay.New(f.replay, log)
		pc.Offline = []sources.Source{replaySrc}
	} else if err := liveConfig(f, cfg, &pc); err != nil {
		fmt.Fprintln(stderr, "ruled:", err)
		return exitUsage
	} else if n := tuneProcs(os.Getenv, pc.Sources); n > 0 {
		log.Info("Go code on fewer CPUs than the machine has (GOMAXPROCS sets it)", "gomaxprocs", n)
	}
	pipe, err := pipeline.New(pc)
	if err != nil {
		fmt.Fprintln(stderr, "ruled:", err)
		return exitError
	}
	if f.replay == "" {
		defer guardAudit(pipe.Sources(), log)()
	}

	metricsAddr := f.metricsAddr
	if metricsAddr == "" {
		metricsAddr = cfg.Metrics.Addr
	}
	if metricsAddr != "" {
		reg := newMetricsRegistry(func() agentStats {
			eng := current.Load()
			s := agentStats{replay: f.replay != "", pipe: pipe.Stats(), engine: totals.stats(eng), rules: eng.Rules(), outputs: stage.Stats()}
			if resp != nil {
				rs := resp.Stats()
				s.resp = &rs
			}
			return s
		})
		// Served until the outputs have drained.
		mctx, mcancel := context.WithCancel(context.WithoutCancel(ctx))
		_, wait, err := serveMetrics(mctx, metricsAddr, reg, log)
		if err != nil {
			mcancel()
			fmt.Fprintln(stderr, "ruled:", err)
			return exitError
		}
		defer wait()
		defer mcancel()
	}

	// Outputs run on their own context so they can drain after intake stops.
	outCtx, outCancel := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() { _ = stage.Run(outCtx) })

	runCtx, runCancel := context.WithCancel(ctx)
	var workers sync.WaitGroup
	workers.Go(func() { hangups(runCtx, hup, &current, &totals, paths, rl, hostname, stage, log) })
	// Responses act until the path has stopped; their reports still reach
	// the outputs, which stop after them.
	respCtx, respCancel := context.WithCancel(context.WithoutCancel(ctx))
	var respDone sync.WaitGroup
	if resp != nil {
		respDone.Go(func() { _ = resp.Run(respCtx) })
	}
	every := f.statsEvery
	if every <= 0 {
		every = cfg.StatsEvery
	}
	if every <= 0 {
		every = time.Minute
	}
	workers.Go(func() { statsLoop(runCtx, every, pipe, stage, engineStats, log) })

	log.Info("ruled running", "version", version, "outputs", len(specs))
	// Run returns once every event taken in has left the path (the exec
	// merge and the metadata wait are flushed).
	runErr := pipe.Run(runCtx, nil)
	runCancel()
	workers.Wait()
	respCancel()
	respDone.Wait()
	if resp != nil {
		st := resp.Stats()
		log.Info("response stats", "matched", st.Matched, "actions", st.Actions, "failed", st.Failed,
			"host_skipped", st.Host, "cooled_down", st.CooledDown, "dropped", st.Dropped)
	}
	outCancel()
	bg.Wait()
	if f.replay == "" || runErr != nil {
		logFinal(pipe, stage, engineStats(), log)
	} else {
		// The replay's own summary counts events; these say whether its
		// alerts were delivered (the outputs have drained by now).
		logOutputStats(stage, log)
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "ruled:", runErr)
		return exitError
	}
	if replaySrc != nil {
		return replayExit(replaySrc, stderr, "ruled", log)
	}
	return exitOK
}

// newResponder builds the config's responses, or nil when there are none.
// A replayed recording never acts: its containers are not this host's now.
func newResponder(cfg *fileConfig, replaying bool, stage *outputs.Stage, log *slog.Logger) (*respond.Responder, error) {
	if len(cfg.Responses) == 0 {
		return nil, nil
	}
	if replaying {
		log.Warn("responses are not run on a replay", "responses", len(cfg.Responses))
		return nil, nil
	}
	socket := cfg.Docker.Socket
	if socket == "" {
		socket = container.DefaultDockerSocket
	}
	r, err := respond.New(respond.Config{Entries: cfg.Responses, Runtime: container.NewDocker(socket), Send: stage.Send, Logger: log})
	if err != nil {
		return nil, err
	}
	for _, e := range cfg.Responses {
		log.Info("response armed", "response", e.Name, "actions", strings.Join(e.Actions, ","), "dry_run", e.DryRun)
	}
	return r, nil
}

// startCPUProfile profiles the agent until the returned stop is called (at
// exit, after the outputs drained), for `go tool pprof`.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// writeAllocProfile writes the allocations since start (the heap profile
// holds them at the default sampling rate) after a collection, so the
// in-use figures are those of the end.
func writeAllocProfile(path string, stderr io.Writer) {
	runtime.GC()
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "ruled: memory profile:", err)
	}
}

// liveConfig fills the live sensors' part of the path's config.
func liveConfig(f agentFlags, cfg *fileConfig, pc *pipeline.Config) error {
	list := f.sources
	if list == "" {
		list = strings.Join(cfg.Sources, ",")
	}
	srcs, err := pipeline.ParseSources(list)
	if err != nil {
		return err
	}
	ac := audit.Config{
		Mode:         cfg.Audit.Mode,
		InstallRules: cfg.Audit.InstallRules,
		BacklogLimit: cfg.Audit.BacklogLimit,
		BacklogWait:  cfg.Audit.BacklogWait,
	}
	if f.auditMode != "" {
		ac.Mode = f.auditMode
	}
	rulesFile := cfg.Audit.RulesFile
	if f.auditRules != "" {
		rulesFile = f.auditRules
	}
	if rulesFile != "" {
		text, err := audit.ReadRulesFile(rulesFile)
		if err != nil {
			return err
		}
		ac.RulesText = text
	}
	pc.Sources, pc.Audit, pc.DockerSocket, pc.CRISocket = srcs, ac, cfg.Docker.Socket, cfg.CRI.Socket
	pc.ExecReader = execReader
	if cfg.ProcEnv != nil && !*cfg.ProcEnv {
		pc.EnvMax = -1
	}
	return nil
}

// hangups reloads the rules and reopens file outputs on SIGHUP. A rule set
// that does not load leaves the running one in place.
func hangups(ctx context.Context, ch <-chan os.Signal, current *atomic.Pointer[engine.Engine], totals *engineTotals, paths rulePaths, rl engine.RateLimit, hostname string, stage *outputs.Stage, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			if err := stage.Reopen(); err != nil {
				log.Error("reopen outputs", "err", err)
			}
			eng, err := loadEngine(paths, rl, hostname, log)
			if err != nil {
				log.Error("rule reload failed; keeping the running rules", "err", err)
				continue
			}
			totals.retire(current.Swap(eng))
			log.Info("rules reloaded", "rules", len(eng.Rules()))
		}
	}
}

func statsLoop(ctx context.Context, every time.Duration, pipe *pipeline.Pipeline, stage *outputs.Stage, engineStats func() engine.Stats, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			logFinal(pipe, stage, engineStats(), log)
		}
	}
}

func logFinal(pipe *pipeline.Pipeline, stage *outputs.Stage, stats engine.Stats, log *slog.Logger) {
	pipe.LogStats()
	log.Info("engine stats", "stats", fmt.Sprintf("%+v", stats))
	logOutputStats(stage, log)
}

func logOutputStats(stage *outputs.Stage, log *slog.Logger) {
	for _, s := range stage.Stats() {
		log.Info("output stats", "output", s.Name, "sent", s.Sent, "failed", s.Failed, "retried", s.Retried, "dropped", s.Dropped, "queued", s.Queued)
	}
}
