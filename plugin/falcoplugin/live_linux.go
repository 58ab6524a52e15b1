package falcoplugin

import (
	"fmt"
	"log/slog"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/pipeline"
	"github.com/ruled/ruled/sources/sensors/audit"
)

// openLive runs the agent's event path up to the engine (process table, exec
// merge, enrichment and the wait for a new container's runtime metadata)
// and returns it as one source of finished events, so the plugin and the
// agent see identical events. Falco's rules on ruled.container.* fields need
// the metadata as much as ruled's own: an event of a container the runtime
// has not answered for yet reaches Falco up to 2 s late rather than without
// its image and privileges.
func openLive(names []string, cfg Config, logger *slog.Logger) ([]sources.Source, error) {
	p, err := pipeline.New(pipeline.Config{
		Sources: names,
		Audit:   audit.Config{Mode: cfg.AuditMode},
		Logger:  logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open live sources: %w", err)
	}
	return []sources.Source{p.Source()}, nil
}
