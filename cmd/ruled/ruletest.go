package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/ruled/ruled/engine/ruletest"
)

func init() {
	register("test", "run rule tests: ruled test [-rules PATH]... TESTFILE|DIR...", runRuleTest)
}

func runRuleTest(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ruled test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var paths rulePaths
	fs.Var(&paths, "rules", "rule file or directory, or builtin for the embedded pack (repeatable; default builtin)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ruled test [-rules PATH]... TESTFILE|DIR...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	// Tests check matching, never the rate limiter.
	eng, err := loadRules(paths, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	cases, err := ruletest.ReadFiles(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	for _, u := range ruletest.UnknownExpectations(eng, cases) {
		fmt.Fprintln(stderr, "warning:", u)
	}
	res := ruletest.Run(eng, cases)
	res.Report(stdout)
	if res.Failed > 0 || len(cases) == 0 {
		return exitError
	}
	return exitOK
}
