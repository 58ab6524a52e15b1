// Command trivial is the yardstick of the Falco cost benchmark
// (test/falcoreplay): about the least a plugin-sdk-go source plugin does on
// the same events as libruled.so, answering to the same field names
// (ruled.evt.type, ruled.proc.name, ruled.proc.pid) so one rule file
// serves both. Two ways, by open params:
//
//	tsv:PATH    "evt.type<TAB>proc.name<TAB>proc.pid" lines: the line is
//	            the payload, extraction splits it (the floor: no decoding)
//	jsonl:PATH  the JSON lines ruled replays: the line is the payload,
//	            extraction decodes it with encoding/json once per event
//
// Build: go build -buildmode=c-shared -o trivial.so ./test/falcoreplay/trivial
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
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
	// jsonl: decoded once per event number
	jsonl bool
	num   uint64
	ev    struct {
		Evt  struct{ Type string }
		Proc struct {
			Name string
			PID  uint64
		}
	}
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
	path, ok := strings.CutPrefix(params, "tsv:")
	if !ok {
		if path, ok = strings.CutPrefix(params, "jsonl:"); !ok {
			return nil, fmt.Errorf("open params %q: want tsv:PATH or jsonl:PATH", params)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	p.jsonl = strings.HasPrefix(params, "jsonl:")
	return &instance{f: f, r: bufio.NewReaderSize(f, 64<<10)}, nil
}

func (p *plugin) String(evt sdk.EventReader) (string, error) {
	b, err := io.ReadAll(evt.Reader())
	return string(b), err
}

func (p *plugin) Extract(req sdk.ExtractRequest, evt sdk.EventReader) error {
	if p.jsonl {
		if evt.EventNum() != p.num {
			if err := p.read(evt); err != nil {
				return err
			}
			p.num = evt.EventNum()
			p.ev.Evt.Type, p.ev.Proc.Name, p.ev.Proc.PID = "", "", 0
			if err := json.Unmarshal(p.buf, &p.ev); err != nil {
				return err
			}
		}
		switch req.FieldID() {
		case 0:
			req.SetValue(p.ev.Evt.Type)
		case 1:
			req.SetValue(p.ev.Proc.Name)
		case 2:
			req.SetValue(p.ev.Proc.PID)
		}
		return nil
	}
	if err := p.read(evt); err != nil {
		return err
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

// read copies the event's payload into p.buf.
func (p *plugin) read(evt sdk.EventReader) error {
	p.buf = p.buf[:0]
	var tmp [512]byte
	r := evt.Reader()
	for {
		n, err := r.Read(tmp[:])
		p.buf = append(p.buf, tmp[:n]...)
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
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
