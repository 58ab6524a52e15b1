// Command plugin builds libruled.so, ruled as a Falco plugin
// (go build -buildmode=c-shared ./plugin). The logic is in
// plugin/falcoplugin; this file only registers it with the SDK.
package main

import (
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins/extractor"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins/source"

	"github.com/ruled/ruled/plugin/falcoplugin"
)

// version is set by the Makefile: -ldflags '-X main.version=...'.
var version = "0.0.0"

func init() {
	plugins.SetFactory(func() plugins.Plugin {
		p := falcoplugin.New(version)
		source.Register(p)
		extractor.Register(p)
		return p
	})
}

func main() {}
