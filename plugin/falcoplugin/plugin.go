package falcoplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins"
	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk/plugins/source"

	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/replay"
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

	// Extraction cache: the event number Falco gave the last decoded event,
	// so the N fields of one rule evaluation decode the event once.
	cached   bool
	cacheNum uint64
	cacheErr error
	ev       event.Event
	buf      bytes.Buffer
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
		return startInstance([]sourceRunner{{src: rs, done: func() error { return replaySkipped(rs.Stats()) }}}, nil, false, p.log), nil
	}
	srcs, enrichers, err := OpenLive(spec.Sources, p.cfg, p.log)
	if err != nil {
		return nil, err
	}
	runners := make([]sourceRunner, len(srcs))
	for i, s := range srcs {
		runners[i] = sourceRunner{src: s}
	}
	p.log.Info("sources opened", "sources", strings.Join(spec.Sources, ","))
	return startInstance(runners, enrichers, true, p.log), nil
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

// String implements sdk.Stringer: the event's JSON line, what Falco shows
// as evt.plugininfo.
func (p *Plugin) String(evt sdk.EventReader) (s string, err error) {
	defer recoverErr(p.log, "string", &err)
	b, err := io.ReadAll(evt.Reader())
	if err != nil {
		return "", fmt.Errorf("read event %d: %w", evt.EventNum(), err)
	}
	return string(bytes.TrimSpace(b)), nil
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
		if v, ok := eventValue(d.ev, &p.ev, req.ArgKey()); ok {
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

// decode fills p.ev from evt unless it already holds that event.
func (p *Plugin) decode(evt sdk.EventReader) error {
	num := evt.EventNum()
	if p.cached && p.cacheNum == num {
		return p.cacheErr
	}
	p.cached, p.cacheNum, p.matched, p.matches = true, num, false, nil
	p.ev = event.Event{}
	p.buf.Reset()
	if _, err := p.buf.ReadFrom(evt.Reader()); err != nil {
		p.cacheErr = fmt.Errorf("read event %d: %w", num, err)
		return p.cacheErr
	}
	p.cacheErr = decodeEvent(p.buf.Bytes(), &p.ev)
	if p.cacheErr != nil {
		p.cacheErr = fmt.Errorf("decode event %d: %w", num, p.cacheErr)
	}
	return p.cacheErr
}

// match runs the ruled rules on the cached event, once per event.
func (p *Plugin) match() []Match {
	if p.matcher == nil {
		return nil
	}
	if !p.matched {
		p.matched = true
		p.matches = p.matcher.Match(&p.ev)
	}
	return p.matches
}

// decodeEvent is lenient on purpose (unlike event.UnmarshalJSON): a capture
// written by another ruled version still yields every field both know.
func decodeEvent(b []byte, ev *event.Event) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("empty event")
	}
	return json.Unmarshal(b, ev)
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
