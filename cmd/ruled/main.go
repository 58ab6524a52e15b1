// Command ruled is the standalone agent: it watches processes and network
// connections through kernel audit and the proc connector, enriches them with
// container and socket context, evaluates Falco-style rules and sends alerts.
//
// Subcommands (validate, test, events, ps, netstat, version) register
// themselves with register in their own files; the default is the agent.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/ruled/ruled/sources/sensors/procconn"
)

// version is set by the Makefile (-ldflags -X main.version=...).
var version = "dev"

// Exit codes (README, "Exit codes and signals"): 0 clean, 1 runtime or rule errors, 2 usage.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command runs one subcommand; args exclude the subcommand name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

// register adds a subcommand; called from init functions.
func register(name, summary string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	if _, dup := commands[name]; dup {
		panic("ruled: duplicate command " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

// execReader is how the proc connector's exec reader processes are
// started: this binary again (procconn.Config.ExecReader), even if the
// file was replaced since.
const execReader = "/proc/self/exe"

func main() {
	// An exec reader process is this binary started again; it never
	// returns from here.
	procconn.ServeExecReader()
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if c, ok := commands[args[0]]; ok {
			return c.run(ctx, args[1:], stdout, stderr)
		}
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
			usage(stdout)
			fmt.Fprintln(stdout, "\nagent flags:")
			fs := flag.NewFlagSet("ruled", flag.ContinueOnError)
			fs.SetOutput(stdout)
			new(agentFlags).register(fs)
			fs.PrintDefaults()
			return exitOK
		}
	}
	return runAgent(ctx, args, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ruled [-rules PATH]... [-config FILE] [-sources LIST] [-output SPEC]... [-replay FILE]")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "       ruled %-8s %s\n", n, commands[n].summary)
	}
}

func init() {
	register("version", "print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) int {
		fmt.Fprintln(stdout, "ruled", version)
		return exitOK
	})
}
