//go:build !linux

package falcoplugin

import (
	"errors"
	"log/slog"

	"github.com/ruled/ruled/sources"
)

func openLive([]string, Config, *slog.Logger) ([]sources.Source, error) {
	return nil, errors.New("live sources need Linux; use replay:PATH")
}
