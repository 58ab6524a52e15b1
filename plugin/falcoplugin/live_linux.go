package falcoplugin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/audit"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/pipeline"
	"github.com/ruled/ruled/sources/procconn"
	"github.com/ruled/ruled/sources/proctable"
)

// openLive runs the kernel sources behind the shared process table, as the
// standalone agent does, and returns them as one source. Container
// attribution beyond what the table knows is the integrator's to add
// (OpenLive is the seam).
func openLive(names []string, cfg Config, logger *slog.Logger) ([]sources.Source, []sources.Enricher, error) {
	h := &hostSource{table: proctable.New(proctable.Config{Logger: logger}), log: logger}
	for _, n := range names {
		switch n {
		case SourceAudit:
			s, err := audit.New(audit.Config{Mode: cfg.AuditMode}, logger.With("source", n))
			if err != nil {
				return nil, nil, fmt.Errorf("open audit source: %w", err)
			}
			h.srcs = append(h.srcs, s)
		case SourceProcconn:
			h.srcs = append(h.srcs, procconn.New(procconn.Config{Logger: logger.With("source", n), Resync: h.table.Resync}))
		default:
			return nil, nil, fmt.Errorf("unknown source %q", n)
		}
	}
	h.merge = len(h.srcs) > 1
	return []sources.Source{h}, nil, nil
}

// hostSource seeds the process table from /proc, lets every raw event
// update it and be enriched from it, and, when audit and procconn both run,
// merges their two reports of one exec into one event.
type hostSource struct {
	srcs  []sources.Source
	table *proctable.Table
	merge bool
	log   *slog.Logger
}

func (h *hostSource) Name() string { return "live" }

func (h *hostSource) Run(ctx context.Context, emit func(*event.Event)) error {
	if err := h.table.Seed(ctx); err != nil {
		// Events still flow; only processes older than the plugin lack
		// parents and ancestry.
		h.log.Warn("process table seed failed", "err", err)
	}
	finish := func(ev *event.Event) {
		h.table.Enrich(ev)
		emit(ev)
	}
	handle := func(ev *event.Event) {
		h.table.Observe(ev)
		finish(ev)
	}
	var wg sync.WaitGroup
	var m *proctable.Merger
	if h.merge {
		m = proctable.NewMerger(0, 0, finish)
		handle = func(ev *event.Event) {
			// Observe first: it reads /proc while the process still lives.
			h.table.Observe(ev)
			m.Push(ev)
		}
		wg.Go(func() { _ = m.Run(ctx) })
	}
	err := pipeline.New(h.srcs, 0, h.log).Run(ctx, handle)
	wg.Wait()
	if m != nil {
		m.Flush()
	}
	return err
}
