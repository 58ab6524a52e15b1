package main

import (
	"context"
	"fmt"
	"io"
)

// runAgent is the default command. It is wired up as the engine, sources and
// outputs land.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	_ = ctx
	_ = args
	_ = stdout
	fmt.Fprintln(stderr, "ruled: agent not wired yet")
	return exitError
}
