package falcoplugin

import (
	"fmt"
	"log/slog"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/live"
	"github.com/ruled/ruled/sources/sensors/audit"
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
	return []sources.Source{l.Source()}, nil, nil
}
