// Command containerfields builds a Falco plugin named "container" that only
// declares the container.* and k8s.* fields Falco's upstream
// falco_rules.yaml references. Those rules require the container plugin
// (>= 0.4.0), which provides those fields for the syscall source; the test
// machine has no such plugin and the test Falco has no syscall source, so
// this declaration is all Falco needs to compile the upstream rules and
// check that ruled_rules.yaml loads beside them. It extracts nothing: no
// syscall event ever reaches it. Test fixture only (test/falco builds it
// with -buildmode=c-shared); never install it next to a real Falco.
package main

import (
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins/extractor"
)

type fields struct{ plugins.BasePlugin }

func (*fields) Info() *plugins.Info {
	return &plugins.Info{
		Name:                "container",
		Description:         "test stand-in declaring the container plugin's fields used by Falco's upstream rules",
		Contact:             "https://github.com/ruled/ruled",
		Version:             "0.4.0",
		RequiredAPIVersion:  "3.0.0",
		ExtractEventSources: []string{"syscall"},
	}
}

func (*fields) Init(string) error { return nil }

func (*fields) Fields() []sdk.FieldEntry {
	return []sdk.FieldEntry{
		{Type: "string", Name: "container.id", Desc: "container id"},
		{Type: "string", Name: "container.name", Desc: "container name"},
		{Type: "string", Name: "container.image.repository", Desc: "image repository"},
		{Type: "bool", Name: "container.privileged", Desc: "privileged container"},
		{Type: "abstime", Name: "container.start_ts", Desc: "container start time"},
		{Type: "string", Name: "k8s.ns.name", Desc: "Kubernetes namespace"},
		{Type: "string", Name: "k8s.pod.name", Desc: "Kubernetes pod"},
	}
}

// Extract leaves every field without a value.
func (*fields) Extract(sdk.ExtractRequest, sdk.EventReader) error { return nil }

func init() {
	plugins.SetFactory(func() plugins.Plugin {
		p := &fields{}
		extractor.Register(p)
		return p
	})
}

func main() {}
