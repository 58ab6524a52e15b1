//go:build !linux

package audit

import (
	"context"
	"errors"

	"github.com/ruled/ruled/sources/event"
)

// Run fails: kernel audit exists only on Linux.
func (s *Source) Run(ctx context.Context, emit func(*event.Event)) error {
	return errors.New("kernel audit needs Linux")
}
