package falcoplugin

import (
	"fmt"
	"log/slog"

	"github.com/ruled/ruled/sources"
	"github.com/ruled/ruled/sources/audit"
	"github.com/ruled/ruled/sources/procconn"
)

func openLive(names []string, cfg Config, logger *slog.Logger) ([]sources.Source, []sources.Enricher, error) {
	var srcs []sources.Source
	for _, n := range names {
		switch n {
		case SourceAudit:
			s, err := audit.New(audit.Config{Mode: cfg.AuditMode}, logger.With("source", n))
			if err != nil {
				return nil, nil, fmt.Errorf("open audit source: %w", err)
			}
			srcs = append(srcs, s)
		case SourceProcconn:
			srcs = append(srcs, procconn.New(procconn.Config{Logger: logger.With("source", n)}))
		default:
			return nil, nil, fmt.Errorf("unknown source %q", n)
		}
	}
	return srcs, nil, nil
}
