// Command plugin builds libruled.so, ruled as a Falco plugin
// (go build -buildmode=c-shared ./plugin). The logic is in
// plugin/falcoplugin; this file only registers it with the SDK.
package main

import (
	"os"
	"runtime/debug"

	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins/extractor"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins/source"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/symbols/extract"

	"github.com/ruled/ruled/plugin/falcoplugin"
)

// version is set by the Makefile: -ldflags '-X main.version=...'.
var version = ""

func init() {
	// The SDK's async extraction has Falco's thread and a Go worker
	// busy-wait on each other; measured on 2 loaded cores it cost ~380 µs per
	// extract_fields call against a few µs for the plain cgo call
	// (BenchmarkHarness), so ruled extracts synchronously.
	extract.SetAsync(false)
	// Every event Falco handles is a few allocations here; at Go's default
	// GOGC=100 the collector cost about a third of the plugin's CPU in the
	// real Falco (test/falcoreplay), with a live heap of a few MB. A user's
	// GOGC still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	plugins.SetFactory(func() plugins.Plugin {
		p := falcoplugin.New(version)
		source.Register(p)
		extractor.Register(p)
		return p
	})
}

func main() {}
