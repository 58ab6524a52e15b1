package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/pipeline"
	"github.com/ruled/ruled/sources/sensors/replay"
)

func init() {
	register("events", "print normalized events as JSON lines: ruled events [-filter EXPR] [-replay FILE]", runEvents)
}

func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ruled events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		paths      rulePaths
		filterText string
		replayFile string
		srcList    string
	)
	fs.StringVar(&filterText, "filter", "", "print only events matching this condition (expr, or Falco's language; the rules' macros and lists of that language may be used)")
	fs.StringVar(&replayFile, "replay", "", "read events from FILE (auditd log or JSON lines) instead of the kernel")
	fs.StringVar(&srcList, "sources", "", "live sources, comma list of audit,procconn")
	fs.Var(&paths, "rules", "rules whose macros and lists -filter may use (repeatable; default builtin)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ruled events [-sources LIST] [-filter EXPR] [-replay FILE] [-rules PATH]...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ruled events: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: event.EscapeLogAttr}))

	var filter *engine.Filter
	if filterText != "" {
		// The rules only lend their macros and lists to the filter.
		eng, err := loadRules(paths, log)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitError
		}
		filter, err = engine.CompileFilter(filterText, eng)
		if err != nil {
			fmt.Fprintf(stderr, "ruled events: -filter: %v\n", err)
			return exitUsage
		}
	}

	pc := pipeline.Config{Logger: log}
	var replaySrc *replay.Source
	isLive := replayFile == ""
	if isLive {
		list, err := pipeline.ParseSources(srcList)
		if err != nil {
			fmt.Fprintln(stderr, "ruled events: -sources:", err)
			return exitUsage
		}
		pc.Sources, pc.ExecReader = list, execReader
	} else {
		replaySrc = replay.New(replayFile, log)
		pc.Offline = []sources.Source{replaySrc}
	}
	pipe, err := pipeline.New(pc)
	if err != nil {
		fmt.Fprintln(stderr, "ruled events:", err)
		return exitError
	}
	if isLive {
		defer guardAudit(pipe.Sources(), log)()
	}
	n, err := printEvents(ctx, pipe, filter, stdout, isLive, log)
	if err != nil {
		fmt.Fprintln(stderr, "ruled events:", err)
		return exitError
	}
	log.Debug("events printed", "events", n)
	if replaySrc != nil {
		return replayExit(replaySrc, stderr, "ruled events", log)
	}
	return exitOK
}

// replayExit ends a replay that read its whole file: the bad lines it
// skipped (the first replay.MaxNamed named), a summary, and exit 1 when
// any line was skipped, so a damaged capture never passes for a clean one.
func replayExit(src *replay.Source, stderr io.Writer, prog string, log *slog.Logger) int {
	st := src.Stats()
	log.Info("replay done", "file", st.File, "events", st.Events, "skipped", st.Skipped)
	if st.Skipped == 0 {
		return exitOK
	}
	for _, l := range st.First {
		fmt.Fprintf(stderr, "%s: %s\n", prog, l)
	}
	if more := st.Skipped - len(st.First); more > 0 {
		fmt.Fprintf(stderr, "%s: ... and %d more bad lines\n", prog, more)
	}
	fmt.Fprintf(stderr, "%s: %s\n", prog, st.Summary())
	return exitError
}

// printEvents runs the path and writes every event that passes filter (nil
// = all) to w as a JSON line. flushEach flushes per event, for live streams
// a reader watches.
func printEvents(ctx context.Context, pipe *pipeline.Pipeline, filter *engine.Filter, w io.Writer, flushEach bool, log *slog.Logger) (uint64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	var printed atomic.Uint64
	var werr error
	print := func(ev *event.Event) {
		if werr != nil || (filter != nil && !filter.Match(ev)) {
			return
		}
		b, err := event.MarshalJSONLine(ev)
		if err != nil {
			log.Warn("encode event", "err", err)
			return
		}
		if _, err := bw.Write(b); err != nil {
			werr = err
			return
		}
		if flushEach {
			werr = bw.Flush()
		}
		printed.Add(1)
	}
	// The pipeline never calls print concurrently, so it needs no lock.
	err := pipe.Run(ctx, print)
	if ferr := bw.Flush(); werr == nil {
		werr = ferr
	}
	if err == nil {
		err = werr
	}
	return printed.Load(), err
}
