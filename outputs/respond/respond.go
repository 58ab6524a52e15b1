package respond

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/event"
)

// Prefix starts the rule name of every response alert.
const Prefix = "response: "

// Results of an action, in response alerts' response.result.
const (
	ResultOK     = "ok"
	ResultFailed = "failed"
	ResultDryRun = "dry_run"
)

// EvidenceRepo is the repository of committed evidence images; the tag
// names the container, the rule and the time.
const EvidenceRepo = "ruled-evidence"

// Labels of evidence images.
const (
	LabelRule          = "ruled.rule"
	LabelTime          = "ruled.time"
	LabelContainerID   = "ruled.container.id"
	LabelContainerName = "ruled.container.name"
	LabelResponse      = "ruled.response"
)

// Defaults of Config.
const (
	DefaultQueueSize     = 64
	DefaultActionTimeout = 60 * time.Second
	stopTimeout          = 10 * time.Second
)

// Runtime is what responses need of a container runtime; *container.Docker
// implements it.
type Runtime interface {
	Detail(ctx context.Context, id string) (container.Detail, error)
	Commit(ctx context.Context, id, repo, tag, comment string, labels map[string]string) (string, error)
	Disconnect(ctx context.Context, id, network string) error
	Pause(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Kill(ctx context.Context, id string) error
}

// Config configures a Responder.
type Config struct {
	Entries []Entry
	Runtime Runtime
	// Send delivers response alerts (the output stage's Send). It must not
	// block.
	Send   func(event.Alert)
	Logger *slog.Logger
	// QueueSize bounds the alerts waiting for the worker (default 64).
	QueueSize int
	// ActionTimeout bounds one runtime call (default 60 s: a commit copies
	// the container's layer).
	ActionTimeout time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Stats are the responder's counters.
type Stats struct {
	Matched    uint64 // alerts that matched an entry (per entry)
	Host       uint64 // matches skipped because the alert is of a host process
	CooledDown uint64 // matches skipped because the entry acted on the container within its cool-down
	Dropped    uint64 // matches dropped because the queue was full
	Actions    uint64 // actions taken or, in dry run, reported
	Failed     uint64 // actions that failed
}

type job struct {
	entry *Entry
	alert event.Alert
}

// Responder matches alerts against the entries and acts on their
// containers. Create with New; Offer from any goroutine; Run once.
type Responder struct {
	cfg                                             Config
	log                                             *slog.Logger
	now                                             func() time.Time
	q                                               chan job
	mu                                              sync.Mutex
	last                                            map[string]time.Time // entry name + "\x00" + container id -> when acted
	lastGC                                          time.Time
	matched, host, cooled, dropped, actions, failed atomic.Uint64
}

// New validates the entries and returns a Responder.
func New(cfg Config) (*Responder, error) {
	if err := Validate(cfg.Entries); err != nil {
		return nil, err
	}
	if cfg.Runtime == nil {
		return nil, errors.New("responses need a container runtime")
	}
	if cfg.Send == nil {
		return nil, errors.New("responses need an alert sink")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.ActionTimeout <= 0 {
		cfg.ActionTimeout = DefaultActionTimeout
	}
	r := &Responder{cfg: cfg, log: cfg.Logger, now: cfg.Now, q: make(chan job, cfg.QueueSize), last: map[string]time.Time{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// Offer matches an alert against the entries and queues the matches. It
// never blocks and does no I/O: it is called on the event path.
func (r *Responder) Offer(a event.Alert) {
	for i := range r.cfg.Entries {
		e := &r.cfg.Entries[i]
		if !e.matches(&a) {
			continue
		}
		r.matched.Add(1)
		id := containerID(&a)
		if id == "" || id == event.HostID {
			r.host.Add(1)
			continue
		}
		if !r.claim(e, id) {
			r.cooled.Add(1)
			continue
		}
		select {
		case r.q <- job{entry: e, alert: a}:
		default:
			r.dropped.Add(1)
			r.release(e, id) // not acted on: a later alert may try
		}
	}
}

// containerID is the alert's container: from its event, or from the
// output fields every alert carries.
func containerID(a *event.Alert) string {
	if a.Event != nil && a.Event.Container.ID != "" {
		return a.Event.Container.ID
	}
	id, _ := a.OutputFields["container.id"].(string)
	return id
}

func containerName(a *event.Alert) string {
	if a.Event != nil && a.Event.Container.Name != "" {
		return a.Event.Container.Name
	}
	n, _ := a.OutputFields["container.name"].(string)
	return n
}

// claim records that e acts on container id now, unless it did within its
// cool-down.
func (r *Responder) claim(e *Entry, id string) bool {
	now := r.now()
	key := e.Name + "\x00" + id
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.last[key]; ok && now.Sub(t) < e.Cooldown {
		return false
	}
	r.last[key] = now
	if now.Sub(r.lastGC) > time.Minute {
		r.lastGC = now
		// The longest cool-down bounds what must be remembered.
		keep := r.maxCooldown()
		for k, t := range r.last {
			if now.Sub(t) > keep {
				delete(r.last, k)
			}
		}
	}
	return true
}

func (r *Responder) release(e *Entry, id string) {
	r.mu.Lock()
	delete(r.last, e.Name+"\x00"+id)
	r.mu.Unlock()
}

func (r *Responder) maxCooldown() time.Duration {
	var m time.Duration
	for _, e := range r.cfg.Entries {
		m = max(m, e.Cooldown)
	}
	return m
}

// Run acts on queued matches until ctx ends; matches still queued then are
// dropped and counted. It returns nil.
func (r *Responder) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case <-r.q:
					r.dropped.Add(1)
				default:
					return nil
				}
			}
		case j := <-r.q:
			r.respond(ctx, j)
		}
	}
}

// Stats returns the counters.
func (r *Responder) Stats() Stats {
	return Stats{
		Matched: r.matched.Load(), Host: r.host.Load(), CooledDown: r.cooled.Load(),
		Dropped: r.dropped.Load(), Actions: r.actions.Load(), Failed: r.failed.Load(),
	}
}

// outcome is one action's result for its report.
type outcome struct {
	detail string            // what was done: image, networks
	fields map[string]string // extra output fields
	err    error
}

// respond runs an entry's actions in order on the alert's container. A
// failure is reported and the next action still runs.
func (r *Responder) respond(ctx context.Context, j job) {
	id := containerID(&j.alert)
	at := r.now().UTC()
	var det container.Detail
	var detErr error
	if !j.entry.DryRun {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.ActionTimeout)
		det, detErr = r.cfg.Runtime.Detail(cctx, id)
		cancel()
	}
	name := det.Name
	if name == "" {
		name = containerName(&j.alert)
	}
	for _, action := range j.entry.Actions {
		if ctx.Err() != nil {
			return
		}
		var o outcome
		if j.entry.DryRun {
			o.detail = "dry run: not acted on"
		} else {
			cctx, cancel := context.WithTimeout(ctx, r.cfg.ActionTimeout)
			o = r.act(cctx, action, id, name, det, detErr, j, at)
			cancel()
		}
		r.report(j, action, id, name, o)
	}
}

func (r *Responder) act(ctx context.Context, action, id, name string, det container.Detail, detErr error, j job, at time.Time) outcome {
	rt := r.cfg.Runtime
	switch action {
	case ActionCommit:
		tag := evidenceTag(name, id, j.alert.Rule, at)
		labels := map[string]string{
			LabelRule: j.alert.Rule, LabelTime: at.Format(time.RFC3339), LabelContainerID: id,
			LabelContainerName: name, LabelResponse: j.entry.Name,
		}
		comment := fmt.Sprintf("ruled evidence: %s at %s: %s", j.alert.Rule, at.Format(time.RFC3339), j.alert.Output)
		img, err := rt.Commit(ctx, id, EvidenceRepo, tag, comment, labels)
		ref := EvidenceRepo + ":" + tag
		return outcome{detail: "image " + ref, fields: map[string]string{"response.image": ref, "response.image_id": img}, err: err}
	case ActionDisconnect:
		if detErr != nil {
			return outcome{err: fmt.Errorf("list networks: %w", detErr)}
		}
		var done []string
		var errs []error
		for _, n := range det.Networks {
			if n.Name == "none" {
				continue // the null network has no connection to cut
			}
			if err := rt.Disconnect(ctx, id, n.Name); err != nil {
				errs = append(errs, err)
				continue
			}
			done = append(done, n.Name)
		}
		d := "networks " + strings.Join(done, ",")
		if len(done) == 0 {
			d = "no network to disconnect from"
		}
		return outcome{detail: d, fields: map[string]string{"response.networks": strings.Join(done, ",")}, err: errors.Join(errs...)}
	case ActionPause:
		return outcome{err: rt.Pause(ctx, id)}
	case ActionStop:
		return outcome{err: rt.Stop(ctx, id, stopTimeout)}
	case ActionKill:
		return outcome{err: rt.Kill(ctx, id)}
	}
	return outcome{err: fmt.Errorf("unknown action %q", action)}
}

// evidenceTag is a Docker tag ([A-Za-z0-9_.-], ≤ 128) naming the container,
// the rule and the time to the millisecond, so that two entries committing
// the same container for the same alert do not take each other's tag.
func evidenceTag(name, id, rule string, at time.Time) string {
	if name == "" && len(id) >= 12 {
		name = id[:12]
	}
	clean := func(s string, n int) string {
		var b strings.Builder
		dash := false
		for _, c := range strings.ToLower(s) {
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.'
			if !ok {
				if !dash && b.Len() > 0 {
					b.WriteByte('-')
				}
				dash = true
				continue
			}
			dash = false
			b.WriteRune(c)
		}
		out := strings.Trim(b.String(), "-.")
		if len(out) > n {
			out = strings.TrimRight(out[:n], "-.")
		}
		return out
	}
	tag := clean(name, 48) + "-" + clean(rule, 48) + "-" + at.Format("20060102t150405.000z")
	return strings.TrimLeft(tag, "-.")
}

// report logs an action and sends it as an alert.
func (r *Responder) report(j job, action, id, name string, o outcome) {
	result := ResultOK
	switch {
	case j.entry.DryRun:
		result = ResultDryRun
	case o.err != nil:
		result = ResultFailed
	}
	short := id
	if len(short) > 12 {
		short = short[:12]
	}
	text := fmt.Sprintf("%s%s: %s of container %s (%s) after %q: %s", Prefix, j.entry.Name, action, name, short, j.alert.Rule, result)
	if o.detail != "" {
		text += " (" + o.detail + ")"
	}
	if o.err != nil {
		text += ": " + o.err.Error()
		r.log.Error("response action failed", "response", j.entry.Name, "action", action, "container", id, "rule", j.alert.Rule, "err", o.err)
	} else {
		r.log.Info("response action", "response", j.entry.Name, "action", action, "container", id, "rule", j.alert.Rule, "result", result, "detail", o.detail)
	}
	fields := map[string]any{
		"response.name":   j.entry.Name,
		"response.action": action,
		"response.result": result,
		"response.rule":   j.alert.Rule,
		"container.id":    id,
		"container.name":  name,
	}
	// The fields every alert carries, from the detection.
	for _, k := range []string{"evt.type", "proc.pid", "proc.name", "proc.cmdline"} {
		if v, ok := j.alert.OutputFields[k]; ok {
			fields[k] = v
		}
	}
	for k, v := range o.fields {
		fields[k] = v
	}
	if o.err != nil {
		fields["response.error"] = o.err.Error()
	}
	r.cfg.Send(event.Alert{
		Time:         r.now().UTC(),
		Rule:         Prefix + j.entry.Name,
		Priority:     j.alert.Priority,
		Output:       text,
		OutputFields: fields,
		Tags:         []string{"response", action},
		Hostname:     j.alert.Hostname,
	})
	// Counted once reported, so a reader of Stats sees the alert sent.
	if o.err != nil {
		r.failed.Add(1)
	}
	r.actions.Add(1)
}
