package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/sensors/audit"
)

func init() {
	register("recover", "put back the audit state of an agent that died without restoring it (SIGKILL, OOM, crash)", runRecover)
}

// runRecover is `ruled recover`: what an operator, or systemd's
// ExecStopPost=, runs after an agent was killed. Every start of the agent
// does the same before it touches audit. With -guard-fd it is the guardian
// the agent starts beside itself (see startGuardian).
func runRecover(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("recover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("state-dir", audit.DefaultStateDir, "where agents record the audit state they found")
	guardFD := fs.Int("guard-fd", 0, "internal: wait for EOF on this fd (the agent's end of a pipe), then recover")
	guardPID := fs.Int("guard-pid", 0, "internal: the agent that holds the pipe")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ruled recover: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *guardFD > 0 {
		return guard(*guardFD, *guardPID, *dir, log)
	}
	rec, err := audit.Recover(*dir, log)
	for _, pid := range rec.Runs {
		fmt.Fprintf(stdout, "recovered the audit state of dead run %d\n", pid)
	}
	if len(rec.Runs) > 0 {
		fmt.Fprintf(stdout, "removed %d audit rules; set back %v\n", rec.RulesRemoved, rec.Settings)
	}
	for _, pid := range rec.Live {
		fmt.Fprintf(stdout, "run %d is alive: left alone\n", pid)
	}
	if len(rec.Runs) == 0 && len(rec.Live) == 0 && err == nil {
		fmt.Fprintln(stdout, "nothing to recover")
	}
	if err != nil {
		fmt.Fprintln(stderr, "ruled recover:", err)
		return exitError
	}
	return exitOK
}

// guard waits until the agent's end of the pipe closes, which happens
// however the agent ends (exit, SIGKILL, OOM kill, a panic on any
// goroutine), then recovers once the agent is gone. A clean exit has
// removed the agent's state record already, so there is nothing to do.
func guard(fd, pid int, dir string, log *slog.Logger) int {
	// The agent's terminal, process group or service stop must not end the
	// guardian before the agent: it leaves on its own once the agent is gone.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	// Best effort: an OOM kill of the agent must not take the guardian too.
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte("-1000"), 0)
	f := os.NewFile(uintptr(fd), "guard")
	_, _ = io.Copy(io.Discard, f)
	f.Close()
	if _, err := os.Stat(audit.StateFile(dir, pid)); err != nil {
		return exitOK // the agent put everything back itself (or never changed anything)
	}
	// The pipe closes early in the agent's exit; wait for the rest of it
	// (its audit socket) before deciding it is dead.
	proc := os.DirFS("/proc")
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, running, _ := audit.ProcStart(proc, pid); !running {
			break
		}
	}
	rec, err := audit.Recover(dir, log.With("guardian_of", pid))
	if err != nil {
		log.Error("guardian: recovering the audit state failed; run ruled recover", "pid", pid, "error", err)
		return exitError
	}
	if len(rec.Runs) > 0 {
		log.Warn("guardian: the agent died without restoring audit; its state was put back", "pid", pid, "rules_removed", rec.RulesRemoved, "settings", rec.Settings)
	}
	return exitOK
}

// guardian is the helper process that restores audit after the agent dies
// in a way that skips its own clean-up.
type guardian struct {
	w   *os.File
	cmd *exec.Cmd
}

// startGuardian starts `ruled recover -guard-fd 3` beside the agent, holding
// the read end of a pipe whose write end only the agent holds (close-on-exec,
// so no other child inherits it).
func startGuardian(log *slog.Logger) (*guardian, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("guardian: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("guardian pipe: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(self, "recover", "-guard-fd", "3", "-guard-pid", strconv.Itoa(os.Getpid()))
	cmd.ExtraFiles = []*os.File{r}
	cmd.Stderr = os.Stderr
	// Its own session: a terminal's Ctrl-C reaches the agent, which
	// restores, not the guardian.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start guardian: %w", err)
	}
	log.Info("audit guardian started", "guardian_pid", cmd.Process.Pid)
	return &guardian{w: w, cmd: cmd}, nil
}

// stop closes the agent's end after a clean shutdown and reaps the guardian,
// which finds the state already put back and exits. It does not wait long:
// if the restore failed, the guardian retries once the agent has exited.
func (g *guardian) stop() {
	g.w.Close()
	done := make(chan struct{})
	go func() {
		_ = g.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}

// testPanic is a test-only trigger: RULED_TEST_PANIC_AFTER=DURATION makes
// the agent panic on a goroutine of its own that long after start, so the
// end-to-end tests can check that a crash leaves audit as it was found.
func testPanic(log *slog.Logger) {
	v := os.Getenv("RULED_TEST_PANIC_AFTER")
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		log.Error("RULED_TEST_PANIC_AFTER: not a duration; ignored", "value", v)
		return
	}
	log.Warn("test-only panic armed (RULED_TEST_PANIC_AFTER)", "after", d)
	go func() {
		time.Sleep(d)
		panic("ruled: test-only panic (RULED_TEST_PANIC_AFTER)")
	}()
}

// guardAudit starts the guardian when the agent runs the audit source (the
// only one that changes kernel state) and arms the test-only panic; the
// returned function stops the guardian after a clean shutdown.
func guardAudit(srcs []sources.Source, log *slog.Logger) func() {
	testPanic(log)
	for _, s := range srcs {
		if s.Name() != "audit" {
			continue
		}
		g, err := startGuardian(log)
		if err != nil {
			log.Warn("no audit guardian: after a crash, the next start or ruled recover puts audit back", "error", err)
			return func() {}
		}
		return g.stop
	}
	return func() {}
}
