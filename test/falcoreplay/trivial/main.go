// Command trivial is the yardstick of the Falco cost benchmark
// (test/falcoreplay): the least a plugin-sdk-go source plugin can do on the
// same events as libruled.so. It reads a tab-separated file of
// "evt.type<TAB>proc.name<TAB>proc.pid" lines, one per event, sends each
// line as the event payload and extracts the three fields by splitting it.
// Build: go build -buildmode=c-shared -o trivial.so ./test/falcoreplay/trivial
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins/extractor"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins/source"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/symbols/extract"
)

// The yardstick answers to the same field names and event source as ruled,
// so one rule file serves both; its id is the registry's development id.
type plugin struct {
	plugins.BasePlugin
	buf []byte
}

func (p *plugin) Info() *plugins.Info {
	return &plugins.Info{
		ID: 999, Name: "trivial", EventSource: "ruled", Version: "0.1.0",
		Description: "benchmark yardstick", Contact: "ruled test/falcoreplay",
		RequiredAPIVersion: "3.0.0",
	}
}

func (p *plugin) Init(string) error { return nil }

func (p *plugin) Fields() []sdk.FieldEntry {
	return []sdk.FieldEntry{
		{Type: "string", Name: "ruled.evt.type", Desc: "event type"},
		{Type: "string", Name: "ruled.proc.name", Desc: "process name"},
		{Type: "uint64", Name: "ruled.proc.pid", Desc: "process id"},
	}
}

func (p *plugin) Open(params string) (source.Instance, error) {
	f, err := os.Open(params)
	if err != nil {
		return nil, err
	}
	return &instance{f: f, r: bufio.NewReaderSize(f, 64<<10)}, nil
}

func (p *plugin) String(evt sdk.EventReader) (string, error) {
	b, err := io.ReadAll(evt.Reader())
	return string(b), err
}

func (p *plugin) Extract(req sdk.ExtractRequest, evt sdk.EventReader) error {
	p.buf = p.buf[:0]
	var tmp [512]byte
	for {
		n, err := evt.Reader().Read(tmp[:])
		p.buf = append(p.buf, tmp[:n]...)
		if err == io.EOF || n == 0 {
			break
		}
		if err != nil {
			return err
		}
	}
	parts := bytes.SplitN(p.buf, []byte{'\t'}, 3)
	if len(parts) != 3 {
		return fmt.Errorf("bad event %q", p.buf)
	}
	switch req.FieldID() {
	case 0:
		req.SetValue(string(parts[0]))
	case 1:
		req.SetValue(string(parts[1]))
	case 2:
		pid, err := strconv.ParseUint(string(parts[2]), 10, 64)
		if err != nil {
			return err
		}
		req.SetValue(pid)
	}
	return nil
}

type instance struct {
	source.BaseInstance
	f *os.File
	r *bufio.Reader
}

func (in *instance) NextBatch(_ sdk.PluginState, evts sdk.EventWriters) (int, error) {
	n := 0
	for n < evts.Len() {
		line, err := in.r.ReadSlice('\n')
		if len(line) > 1 {
			w := evts.Get(n)
			if _, werr := w.Writer().Write(line[:len(line)-1]); werr != nil {
				return n, werr
			}
			w.SetTimestamp(uint64(time.Now().UnixNano()))
			n++
		}
		if err != nil {
			if n > 0 {
				return n, nil
			}
			if err == io.EOF {
				return 0, sdk.ErrEOF
			}
			return 0, err
		}
	}
	return n, nil
}

func (in *instance) Close() { in.f.Close() }

func init() {
	// The same extraction mode as libruled.so (plugin/main.go).
	extract.SetAsync(false)
	plugins.SetFactory(func() plugins.Plugin {
		p := &plugin{}
		source.Register(p)
		extractor.Register(p)
		return p
	})
}

func main() {}
