package falcoplugin

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ruled/ruled/sources"
)

// Source names accepted in open params and Config.Sources.
const (
	SourceAudit    = "audit"
	SourceProcconn = "procconn"
)

// ReplayPrefix starts open params that replay a file instead of live sources.
const ReplayPrefix = "replay:"

// OpenSpec is parsed open params: either Replay (a path) or live Sources.
type OpenSpec struct {
	Replay  string
	Sources []string
}

// ParseOpenParams reads open params: "" (the config's sources), a comma list
// of audit and procconn, or replay:PATH.
func ParseOpenParams(params, defaultSources string) (OpenSpec, error) {
	params = strings.TrimSpace(params)
	if rest, ok := strings.CutPrefix(params, ReplayPrefix); ok {
		if rest == "" {
			return OpenSpec{}, errors.New("open params replay: needs a path (replay:/path/events.jsonl)")
		}
		return OpenSpec{Replay: rest}, nil
	}
	if params == "" {
		params = defaultSources
	}
	list, err := parseSourceList(params)
	if err != nil {
		return OpenSpec{}, fmt.Errorf("open params: %w", err)
	}
	return OpenSpec{Sources: list}, nil
}

func parseSourceList(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		name := strings.TrimSpace(part)
		switch name {
		case SourceAudit, SourceProcconn:
		case "":
			continue
		default:
			return nil, fmt.Errorf("unknown source %q (want audit, procconn, a comma list of both, or replay:PATH)", name)
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no source in %q", s)
	}
	return out, nil
}

// LiveOpener turns the live source names of open params into sources of
// finished events. It is the seam where the agent's event path
// (sources/pipeline, up to the engine) plugs in.
type LiveOpener func(names []string, cfg Config, logger *slog.Logger) ([]sources.Source, error)

// OpenLive is the LiveOpener used by Open; the default runs the agent's
// event path (see live_linux.go). Tests set it
// before Falco opens the plugin.
var OpenLive LiveOpener = openLive
