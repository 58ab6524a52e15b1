package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/rules"
)

func init() {
	register("validate", "check rule files, print every problem as FILE:LINE: ...", runValidate)
}

func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ruled validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var paths rulePaths
	fs.Var(&paths, "rules", "rule file or directory, or builtin for the embedded pack (repeatable; default builtin)")
	strict := fs.Bool("strict", false, "exit 1 when a rule is inactive (needs data ruled does not collect)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ruled validate [-strict] [-rules PATH]...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ruled validate: unexpected argument %q (rule paths go after -rules)\n", fs.Arg(0))
		return exitUsage
	}
	eng, err := loadRules(paths, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		var le *engine.LoadError
		if errors.As(err, &le) {
			fmt.Fprintf(stderr, "%d problems\n", len(le.Problems))
		}
		return exitError
	}
	rules, disabled, macros, lists := eng.Summary()
	extra := ""
	if disabled > 0 {
		extra = fmt.Sprintf(" (%d disabled)", disabled)
	}
	fmt.Fprintf(stdout, "%d rules%s, %d macros, %d lists loaded from %s\n", rules, extra, macros, lists, strings.Join(paths.orBuiltin(), ", "))
	for _, r := range eng.Replaced() {
		fmt.Fprintf(stdout, "replaced: %s\n", r)
	}
	inactive := eng.Inactive()
	for _, in := range inactive {
		fmt.Fprintf(stdout, "inactive: %s\n", in)
	}
	if fc := eng.Falco(); fc.Rules > 0 || fc.OtherSource > 0 {
		fmt.Fprintf(stdout, "%s\n", fc)
	}
	if *strict && len(inactive) > 0 {
		fmt.Fprintf(stderr, "%d inactive rules (-strict)\n", len(inactive))
		return exitError
	}
	return exitOK
}

// rulePaths is a repeatable flag: -rules of every command, -output of the
// agent.
type rulePaths []string

func (r *rulePaths) String() string     { return strings.Join(*r, ",") }
func (r *rulePaths) Set(v string) error { *r = append(*r, v); return nil }

func (r rulePaths) orBuiltin() []string {
	if len(r) == 0 {
		return []string{engine.Builtin}
	}
	return r
}

// loadRules compiles the rule paths (default: the embedded pack) for
// checking and matching: no rate limit, since nothing is alerted.
func loadRules(paths rulePaths, log *slog.Logger) (*engine.Engine, error) {
	return compileRules(paths, engine.Options{RateLimit: engine.RateLimit{Rate: -1}, Hostname: "-", Logger: log})
}

// compileRules reads the rule paths (default: the embedded pack) and
// compiles them; every problem is in the error.
func compileRules(paths rulePaths, opts engine.Options) (*engine.Engine, error) {
	files, err := engine.ReadPaths(paths.orBuiltin(), rules.Pack)
	if err != nil {
		return nil, err
	}
	return engine.New(files, opts)
}
