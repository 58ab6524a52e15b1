package falcoplugin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/audit"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/live"
	"github.com/ruled/ruled/sources/pipeline"
)

// openLive runs the kernel sources with the standalone agent's wiring
// (process table, exec merge, containers, namespace sockets) and returns
// them as one source, so the plugin and the agent see identical events.
func openLive(names []string, cfg Config, logger *slog.Logger) ([]sources.Source, []sources.Enricher, error) {
	l, err := live.New(live.Config{
		Sources: names,
		Audit:   audit.Config{Mode: cfg.AuditMode},
		Logger:  logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open live sources: %w", err)
	}
	return []sources.Source{&hostSource{live: l, log: logger}}, nil, nil
}

// hostSource seeds the process table from /proc and runs the sensors and
// their enrichment workers until ctx ends.
type hostSource struct {
	live *live.Live
	log  *slog.Logger
}

func (h *hostSource) Name() string { return "live" }

func (h *hostSource) Run(ctx context.Context, emit func(*event.Event)) error {
	if err := h.live.Seed(ctx); err != nil {
		// Events still flow; only processes older than the plugin lack
		// parents and ancestry.
		h.log.Warn("process table seed failed", "err", err)
	}
	handle := h.live.Handler(emit)
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := h.live.Run(runCtx); err != nil {
			h.log.Warn("enrichment workers", "err", err)
		}
	})
	err := pipeline.New(h.live.Sources(), 0, h.log).Run(ctx, handle)
	// The workers flush the exec merger on the way out, so emit stays valid
	// until they are done.
	cancel()
	wg.Wait()
	return err
}
