package falcoplugin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"unsafe"

	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins/source"

	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/replay"
)

// Plugin identity.
const (
	// PluginID is not in falcosecurity/plugins registry.yaml (which holds
	// 0-15 and the development id 999 as of this writing). Source plugin ids
	// are assigned on request: register ruled before publishing, and change
	// this if the registry hands out another id.
	PluginID    = 20261
	PluginName  = "ruled"
	EventSource = "ruled"
	// RequiredAPIVersion is the plugin API version plugin-sdk-go v0.7.5
	// implements.
	RequiredAPIVersion = "3.0.0"
	Contact            = "https://github.com/ruled/ruled"
	Description        = "ruled host events (kernel audit, proc connector) with container enrichment and ruled rule matches"
)

// Plugin is the plugin state Falco holds between plugin_init and
// plugin_destroy. Extraction runs on it, never concurrently.
type Plugin struct {
	plugins.BasePlugin

	version string
	cfg     Config
	log     *slog.Logger
	matcher Matcher

	// Extraction cache: the event number Falco gave the last event read,
	// so the N fields of one rule evaluation read the event once. cur is
	// the event: recent's, or ev decoded from the payload.
	cached   bool
	cacheNum uint64
	cacheErr error
	cur      *event.Event
	ev       event.Event
	recent   recent
	matched  bool
	matches  []Match
}

// New returns an uninitialized plugin reporting version.
func New(version string) *Plugin {
	if version == "" {
		version = BaseVersion
	}
	return &Plugin{version: version, log: discard()}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Info implements plugins.Plugin.
func (p *Plugin) Info() *plugins.Info {
	return &plugins.Info{
		ID:                 PluginID,
		Name:               PluginName,
		Description:        Description,
		EventSource:        EventSource,
		Contact:            Contact,
		Version:            semver(p.version),
		RequiredAPIVersion: RequiredAPIVersion,
	}
}

// BaseVersion is reported, with the build's version as semver build
// metadata, when the build version is not MAJOR.MINOR.PATCH (an untagged
// git describe such as "abc1234-dirty"). It must stay >= the version that
// plugin/falco/ruled_rules.yaml requires, or Falco refuses those rules.
const BaseVersion = "0.1.0"

// semver keeps Falco's version checks working with git-describe versions:
// Falco reads MAJOR.MINOR.PATCH from the front of the string.
func semver(v string) string {
	v = strings.TrimPrefix(v, "v")
	var a, b, c int
	if n, _ := fmt.Sscanf(v, "%d.%d.%d", &a, &b, &c); n == 3 {
		return v
	}
	return BaseVersion + "+" + v
}

// InitSchema implements sdk.InitSchema.
func (p *Plugin) InitSchema() *sdk.SchemaInfo { return &sdk.SchemaInfo{Schema: initSchema} }

// Init implements plugins.Plugin: parse the config, load the ruled rules.
func (p *Plugin) Init(config string) (err error) {
	defer recoverErr(p.log, "init", &err)
	cfg, err := ParseConfig(config)
	if err != nil {
		return err
	}
	level, _ := parseLevel(cfg.LogLevel)
	p.cfg = cfg
	p.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: event.EscapeLogAttr})).With("plugin", PluginName)
	if len(cfg.Rules) > 0 {
		m, err := LoadRules(cfg.Rules, cfg.RateLimit, p.log)
		if err != nil {
			return fmt.Errorf("init config: rules: %w", err)
		}
		p.matcher = m
	}
	p.log.Debug("plugin initialized", "sources", cfg.Sources, "audit_mode", cfg.AuditMode, "rules", strings.Join(cfg.Rules, ","))
	return nil
}

// SetMatcher replaces the rule matcher (tests; embedding programs).
func (p *Plugin) SetMatcher(m Matcher) { p.matcher = m }

// Destroy implements sdk.Destroyer.
func (p *Plugin) Destroy() {
	defer recoverLog(p.log, "destroy")
	p.matcher = nil
}

// Fields implements extractor.Plugin.
func (p *Plugin) Fields() []sdk.FieldEntry { return FieldEntries() }

// OpenParams implements sdk.OpenParams: the suggestions Falco lists.
func (p *Plugin) OpenParams() ([]sdk.OpenParam, error) {
	return []sdk.OpenParam{
		{Value: "audit,procconn", Desc: "kernel audit and the proc connector (needs root)"},
		{Value: "audit", Desc: "kernel audit only (multicast by default: coexists with auditd)"},
		{Value: "procconn", Desc: "proc connector only: fork/exec/exit"},
		{Value: ReplayPrefix + "/path/events.jsonl", Desc: "replay JSON-lines events recorded with `ruled events`"},
	}, nil
}

// Open implements source.Plugin.
func (p *Plugin) Open(params string) (inst source.Instance, err error) {
	defer recoverErr(p.log, "open", &err)
	spec, err := ParseOpenParams(params, p.cfg.Sources)
	if err != nil {
		return nil, err
	}
	if spec.Replay != "" {
		// Fail at open, not at the first batch, on a missing file.
		if _, err := os.Stat(spec.Replay); err != nil {
			return nil, fmt.Errorf("open params: %w", err)
		}
		rs := replay.New(spec.Replay, p.log)
		in := startInstance([]sourceRunner{{src: rs, done: func() error { return replaySkipped(rs.Stats()) }}}, false, p.log)
		in.recent = &p.recent
		return in, nil
	}
	srcs, err := OpenLive(spec.Sources, p.cfg, p.log)
	if err != nil {
		return nil, err
	}
	runners := make([]sourceRunner, len(srcs))
	for i, s := range srcs {
		runners[i] = sourceRunner{src: s}
	}
	p.log.Info("sources opened", "sources", strings.Join(spec.Sources, ","))
	in := startInstance(runners, true, p.log)
	in.recent = &p.recent
	return in, nil
}

// replaySkipped turns the bad lines a replay read past into the error that
// ends the capture, once every good event has been delivered: Falco then
// exits non-zero, as ruled -replay does.
func replaySkipped(st replay.Stats) error {
	if st.Skipped == 0 {
		return nil
	}
	return fmt.Errorf("%s; %s", st.Summary(), strings.Join(st.First, "; "))
}

// String implements sdk.Stringer: the event as its JSON line (the
// ruled events format), what Falco shows as evt.plugininfo.
func (p *Plugin) String(evt sdk.EventReader) (s string, err error) {
	defer recoverErr(p.log, "string", &err)
	b, _, err := payload(evt)
	if err != nil {
		return "", fmt.Errorf("read event %d: %w", evt.EventNum(), err)
	}
	var ev event.Event
	if err := decodePayload(bytes.Clone(b), &ev); err != nil {
		return "", fmt.Errorf("decode event %d: %w", evt.EventNum(), err)
	}
	line, err := event.MarshalJSONLine(&ev)
	return string(bytes.TrimSpace(line)), err
}

// Extract implements sdk.Extractor.
func (p *Plugin) Extract(req sdk.ExtractRequest, evt sdk.EventReader) (err error) {
	defer recoverErr(p.log, "extract", &err)
	id := req.FieldID()
	if id >= uint64(len(fieldDefs)) {
		return fmt.Errorf("extract: unknown field id %d (%s)", id, req.Field())
	}
	d := &fieldDefs[id]
	if err := d.check(req); err != nil {
		return err
	}
	if err := p.decode(evt); err != nil {
		return err
	}
	if d.kind == kindEvent {
		index := -1
		if d.entry.Arg.IsIndex && req.ArgPresent() {
			index = int(min(req.ArgIndex(), 1<<31))
		}
		if v, ok := eventValue(d.ev, p.cur, req.ArgKey(), index); ok {
			req.SetValue(v)
		}
		return nil
	}
	ms := p.match()
	if len(ms) == 0 {
		// No value, not "": a condition on ruled.rule is then false rather
		// than matching the empty string.
		return nil
	}
	switch d.kind {
	case kindRule:
		req.SetValue(ms[0].Rule)
	case kindPriority:
		req.SetValue(ms[0].Priority.String())
	case kindOutput:
		req.SetValue(ms[0].Output)
	case kindTags:
		req.SetValue(ms[0].Tags)
	case kindRules:
		names := make([]string, len(ms))
		for i, m := range ms {
			names[i] = m.Rule
		}
		req.SetValue(names)
	}
	return nil
}

// decode sets p.cur to evt's event unless it already holds it: the N
// fields of one rule evaluation read the event once. An event this process
// sent lately is taken from p.recent; any other payload is decoded.
func (p *Plugin) decode(evt sdk.EventReader) error {
	num := evt.EventNum()
	if p.cached && p.cacheNum == num {
		return p.cacheErr
	}
	p.cached, p.cacheNum, p.matched, p.matches, p.cacheErr = true, num, false, nil, nil
	p.cur = &p.ev
	raw, copied, err := payload(evt)
	if err != nil {
		p.cacheErr = fmt.Errorf("read event %d: %w", num, err)
		return p.cacheErr
	}
	if ev := p.recent.get(raw); ev != nil {
		p.cur = ev
		return nil
	}
	if !copied {
		// The decoded strings share the payload: copy it out of
		// Falco's buffer, which the next event reuses.
		raw = bytes.Clone(raw)
	}
	p.ev = event.Event{}
	if err := decodePayload(raw, &p.ev); err != nil {
		p.cacheErr = fmt.Errorf("decode event %d: %w", num, err)
	}
	return p.cacheErr
}

// payload returns the event's payload: Falco's own memory when the SDK's
// reader exposes it (valid during this call only), or else a copy. The
// SDK's Read copies a byte per call.
func payload(evt sdk.EventReader) (b []byte, copied bool, err error) {
	r := evt.Reader()
	if raw, ok := r.(interface {
		BufferPtr() unsafe.Pointer
		Len() int64
	}); ok {
		if raw.Len() == 0 {
			return nil, false, nil
		}
		return unsafe.Slice((*byte)(raw.BufferPtr()), raw.Len()), false, nil
	}
	b, err = io.ReadAll(r)
	return b, true, err
}

// match runs the ruled rules on the cached event, once per event.
func (p *Plugin) match() []Match {
	if p.matcher == nil {
		return nil
	}
	if !p.matched {
		p.matched = true
		p.matches = p.matcher.Match(p.cur)
	}
	return p.matches
}

// decodeJSON reads the JSON-line payload of plugins before the binary
// encoding (old capture files). It is lenient on purpose (unlike
// event.UnmarshalJSON): a capture written by another ruled version still
// yields every field both know.
func decodeJSON(b []byte, ev *event.Event) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty event")
	}
	return event.UnmarshalJSONLenient(b, ev)
}

// recoverErr turns a panic into the function's error: a panic crossing the
// C boundary would abort Falco.
// The stack goes to the log, not the error: Falco truncates plugin errors
// to 1024 bytes.
func recoverErr(log *slog.Logger, op string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: recovered panic: %v", op, r)
		log.Error("recovered panic", "op", op, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}

func recoverLog(log *slog.Logger, op string) {
	if r := recover(); r != nil {
		log.Error("recovered panic", "op", op, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}
