package outputs

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ruled/ruled/sources/event"
)

// Kind is the type of an output.
type Kind string

// The output kinds.
const (
	KindStdout  Kind = "stdout"  // readable line on the stage's stdout writer
	KindJSON    Kind = "json"    // Falco alert JSON per line on the stdout writer
	KindFile    Kind = "file"    // JSON lines appended to a file
	KindSyslog  Kind = "syslog"  // RFC 5424 over unix, udp or tcp
	KindWebhook Kind = "webhook" // HTTP(S) POST of alert JSON, optionally batched
	KindFalco   Kind = "falco"   // HTTP(S) POST of one Falco alert, what falcosidekick accepts
)

// Spec describes one output. ParseSpec builds it from a -output string; in the
// config file an entry is either that string or a mapping whose `output` key
// holds it and whose other keys (the yaml tags below) refine it.
type Spec struct {
	// Raw is the spec string as given; it names the output in errors, logs
	// and Stats (with any secret-looking query values left as written).
	Raw  string `yaml:"output"`
	Kind Kind   `yaml:"-"`
	// Name overrides Raw as the output's name in logs and Stats.
	Name string `yaml:"name"`
	// MinPriority: alerts less severe than this are not queued. Empty means
	// every priority.
	MinPriority string `yaml:"min_priority"`
	// QueueSize bounds this output's queue (0: StageOptions.QueueSize).
	QueueSize int `yaml:"queue_size"`
	// Retries is how often a transient failure is retried (nil: 3 for
	// network outputs, 0 for stdout and files).
	Retries *int `yaml:"retries"`
	// RetryBackoff is the first retry delay, doubled per attempt up to 30 s,
	// with jitter (0: 500 ms).
	RetryBackoff time.Duration `yaml:"retry_backoff"`
	// Timeout bounds one delivery attempt (0: 10 s).
	Timeout time.Duration `yaml:"timeout"`

	// Path is the file of a file output.
	Path string `yaml:"path"`

	// Network (unix, udp, tcp) and Address (socket path or host:port) of a
	// syslog output.
	Network string `yaml:"-"`
	Address string `yaml:"-"`
	// Facility is the syslog facility name (default local0).
	Facility string `yaml:"facility"`
	// AppName is the RFC 5424 APP-NAME (default ruled).
	AppName string `yaml:"app_name"`

	// URL of a webhook or falco output (without the "webhook+"/"falco+" prefix).
	URL string `yaml:"-"`
	// Headers are added to every request; values expand ${VAR} from the
	// environment when the stage is built and are never logged.
	Headers map[string]string `yaml:"headers"`
	// BatchSize > 1 makes a webhook post a JSON array of up to that many
	// alerts; BatchWait is how long a partial batch waits for more (default
	// 1 s when batching).
	BatchSize int           `yaml:"batch_size"`
	BatchWait time.Duration `yaml:"batch_wait"`
	// CAFile adds PEM CA certificates to the system pool for TLS verification.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns TLS verification off (opt-in, never default).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// String is the output's name: Name if set, else the spec string with its
// query removed (query values may hold secrets).
func (s Spec) String() string {
	if s.Name != "" {
		return s.Name
	}
	if i := strings.IndexByte(s.Raw, '?'); i >= 0 {
		return s.Raw[:i]
	}
	return s.Raw
}

// ParseSpec parses a -output string:
//
//	stdout | json | file:PATH
//	syslog://unix/dev/log | syslog://unix/PATH | syslog+udp://HOST:PORT | syslog+tcp://HOST:PORT
//	webhook+https://HOST/PATH | webhook+http://... | falco+http://HOST:PORT/ | falco+https://...
//
// Settings can follow as query parameters: min_priority, queue_size, retries,
// retry_backoff, timeout for every kind; facility and app for syslog;
// batch_size, batch_wait, ca_file, insecure_skip_verify and header
// (repeatable, "Name: value") for webhook and falco. For HTTP outputs only
// these keys are taken out of the URL; any other query parameter stays in the
// URL sent to the server.
func ParseSpec(s string) (Spec, error) {
	sp := Spec{Raw: s}
	if err := sp.parse(); err != nil {
		return Spec{}, fmt.Errorf("output %s: %w", sp.String(), err)
	}
	if err := sp.validate(); err != nil {
		return Spec{}, fmt.Errorf("output %s: %w", sp.String(), err)
	}
	return sp, nil
}

var errEmptySpec = errors.New("empty output spec")

func (sp *Spec) parse() error {
	s := strings.TrimSpace(sp.Raw)
	if s == "" {
		return errEmptySpec
	}
	base, query, _ := strings.Cut(s, "?")
	switch {
	case base == "stdout" || base == "json":
		sp.Kind = Kind(base)
		return sp.applyQuery(query, false)
	case strings.HasPrefix(base, "file:"):
		sp.Kind = KindFile
		sp.Path = strings.TrimPrefix(base, "file:")
		if sp.Path == "" {
			return errors.New("file: needs a path (file:/var/log/ruled/alerts.json)")
		}
		return sp.applyQuery(query, false)
	case strings.HasPrefix(base, "syslog"):
		return sp.parseSyslog(s)
	case strings.HasPrefix(base, "webhook+"), strings.HasPrefix(base, "falco+"):
		return sp.parseHTTP(s)
	}
	return fmt.Errorf("unknown output (want stdout, json, file:PATH, syslog://unix/PATH, syslog+udp://HOST:PORT, syslog+tcp://HOST:PORT, webhook+https://..., falco+http://HOST:PORT/)")
}

func (sp *Spec) parseSyslog(s string) error {
	sp.Kind = KindSyslog
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "syslog":
		if u.Host != "unix" {
			return fmt.Errorf("syslog:// takes a local socket: syslog://unix/dev/log (for the network use syslog+udp:// or syslog+tcp://)")
		}
		sp.Network = "unix"
		sp.Address = u.Path
		if sp.Address == "" || sp.Address == "/" {
			return errors.New("syslog://unix needs a socket path (syslog://unix/dev/log)")
		}
	case "syslog+udp", "syslog+tcp":
		sp.Network = strings.TrimPrefix(u.Scheme, "syslog+")
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
			return fmt.Errorf("%s needs HOST:PORT", u.Scheme)
		}
		if u.Path != "" && u.Path != "/" {
			return fmt.Errorf("%s takes no path", u.Scheme)
		}
		sp.Address = u.Host
	default:
		return fmt.Errorf("unknown syslog scheme %q (want syslog, syslog+udp, syslog+tcp)", u.Scheme)
	}
	return sp.applyQuery(u.RawQuery, false)
}

func (sp *Spec) parseHTTP(s string) error {
	kind, rest, _ := strings.Cut(s, "+")
	sp.Kind = Kind(kind)
	u, err := url.Parse(rest)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s+ needs an http:// or https:// URL", kind)
	}
	if u.Host == "" {
		return fmt.Errorf("%s+ URL has no host", kind)
	}
	q := u.Query()
	var mine url.Values = url.Values{}
	for k, v := range q {
		if httpQueryKeys[k] {
			mine[k] = v
			delete(q, k)
		}
	}
	u.RawQuery = q.Encode()
	if sp.Kind == KindFalco && u.Path == "" {
		u.Path = "/"
	}
	sp.URL = u.String()
	return sp.applyQuery(mine.Encode(), true)
}

var httpQueryKeys = map[string]bool{
	"min_priority": true, "queue_size": true, "retries": true, "retry_backoff": true, "timeout": true,
	"batch_size": true, "batch_wait": true, "ca_file": true, "insecure_skip_verify": true, "header": true,
}

func (sp *Spec) applyQuery(raw string, http bool) error {
	if raw == "" {
		return nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		var err error
		switch {
		case k == "min_priority":
			sp.MinPriority = v
		case k == "queue_size":
			sp.QueueSize, err = strconv.Atoi(v)
		case k == "retries":
			var n int
			n, err = strconv.Atoi(v)
			sp.Retries = &n
		case k == "retry_backoff":
			sp.RetryBackoff, err = time.ParseDuration(v)
		case k == "timeout":
			sp.Timeout, err = time.ParseDuration(v)
		case sp.Kind == KindSyslog && k == "facility":
			sp.Facility = v
		case sp.Kind == KindSyslog && k == "app":
			sp.AppName = v
		case http && k == "batch_size":
			sp.BatchSize, err = strconv.Atoi(v)
		case http && k == "batch_wait":
			sp.BatchWait, err = time.ParseDuration(v)
		case http && k == "ca_file":
			sp.CAFile = v
		case http && k == "insecure_skip_verify":
			sp.InsecureSkipVerify, err = strconv.ParseBool(v)
		case http && k == "header":
			for _, h := range vs {
				name, val, ok := strings.Cut(h, ":")
				if !ok || strings.TrimSpace(name) == "" {
					return fmt.Errorf("header %q: want \"Name: value\"", name)
				}
				if sp.Headers == nil {
					sp.Headers = map[string]string{}
				}
				sp.Headers[strings.TrimSpace(name)] = strings.TrimSpace(val)
			}
		default:
			return fmt.Errorf("unknown setting %q for %s output", k, sp.Kind)
		}
		if err != nil {
			return fmt.Errorf("setting %s: %w", k, err)
		}
	}
	return nil
}

// validate checks what parse cannot: settings from the config file and
// combinations.
func (sp *Spec) validate() error {
	if sp.MinPriority != "" {
		if _, err := event.ParsePriority(sp.MinPriority); err != nil {
			return fmt.Errorf("min_priority: %w", err)
		}
	}
	if sp.QueueSize < 0 {
		return errors.New("queue_size must not be negative")
	}
	if sp.Retries != nil && *sp.Retries < 0 {
		return errors.New("retries must not be negative")
	}
	if sp.RetryBackoff < 0 || sp.Timeout < 0 || sp.BatchWait < 0 {
		return errors.New("durations must not be negative")
	}
	if sp.BatchSize < 0 {
		return errors.New("batch_size must not be negative")
	}
	isHTTP := sp.Kind == KindWebhook || sp.Kind == KindFalco
	if !isHTTP && (len(sp.Headers) > 0 || sp.BatchSize != 0 || sp.BatchWait != 0 || sp.CAFile != "" || sp.InsecureSkipVerify) {
		return fmt.Errorf("headers, batch_size, batch_wait, ca_file and insecure_skip_verify apply to webhook and falco outputs only")
	}
	if sp.Kind == KindFalco && sp.BatchSize > 1 {
		return errors.New("falco output posts one alert per request (falcosidekick's API): batch_size does not apply")
	}
	if sp.Kind != KindSyslog && (sp.Facility != "" || sp.AppName != "") {
		return errors.New("facility and app_name apply to syslog outputs only")
	}
	if sp.Kind == KindSyslog {
		if _, err := facilityCode(sp.Facility); err != nil {
			return err
		}
		if err := checkAppName(sp.AppName); err != nil {
			return err
		}
	}
	if sp.Kind != KindFile && sp.Path != "" {
		return errors.New("path applies to file outputs only (file:PATH)")
	}
	return nil
}

// specKeys are the config keys of a mapping entry, for the unknown-key check.
var specKeys = map[string]bool{
	"output": true, "name": true, "min_priority": true, "queue_size": true, "retries": true,
	"retry_backoff": true, "timeout": true, "path": true, "facility": true, "app_name": true,
	"headers": true, "batch_size": true, "batch_wait": true, "ca_file": true, "insecure_skip_verify": true,
}

// UnmarshalYAML accepts a spec string or a mapping with an `output` key.
// Unknown keys are errors naming their line, like yaml.v3's KnownFields.
func (sp *Spec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		p, err := ParseSpec(n.Value)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		*sp = p
		return nil
	case yaml.MappingNode:
	default:
		return fmt.Errorf("line %d: an output is a spec string or a mapping with an output key", n.Line)
	}
	var raw string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !specKeys[k.Value] {
			return fmt.Errorf("line %d: output: unknown key %q", k.Line, k.Value)
		}
		if k.Value == "output" {
			raw = v.Value
		}
	}
	if raw == "" {
		return fmt.Errorf("line %d: output entry needs an output key (stdout, file:PATH, syslog+udp://HOST:PORT ...)", n.Line)
	}
	p, err := ParseSpec(raw)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	// Keys override settings from the spec string's query.
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := p.decodeKey(k.Value, v); err != nil {
			return fmt.Errorf("line %d: output %s: %s: %w", v.Line, p.String(), k.Value, err)
		}
	}
	if err := p.validate(); err != nil {
		return fmt.Errorf("line %d: output %s: %w", n.Line, p.String(), err)
	}
	*sp = p
	return nil
}

func (sp *Spec) decodeKey(key string, v *yaml.Node) error {
	switch key {
	case "output":
		return nil
	case "name":
		return v.Decode(&sp.Name)
	case "min_priority":
		return v.Decode(&sp.MinPriority)
	case "queue_size":
		return v.Decode(&sp.QueueSize)
	case "retries":
		var n int
		if err := v.Decode(&n); err != nil {
			return err
		}
		sp.Retries = &n
		return nil
	case "retry_backoff":
		return decodeDuration(v, &sp.RetryBackoff)
	case "timeout":
		return decodeDuration(v, &sp.Timeout)
	case "path":
		return v.Decode(&sp.Path)
	case "facility":
		return v.Decode(&sp.Facility)
	case "app_name":
		return v.Decode(&sp.AppName)
	case "headers":
		return v.Decode(&sp.Headers)
	case "batch_size":
		return v.Decode(&sp.BatchSize)
	case "batch_wait":
		return decodeDuration(v, &sp.BatchWait)
	case "ca_file":
		return v.Decode(&sp.CAFile)
	case "insecure_skip_verify":
		return v.Decode(&sp.InsecureSkipVerify)
	}
	return fmt.Errorf("unknown key %q", key)
}

func decodeDuration(v *yaml.Node, d *time.Duration) error {
	var s string
	if err := v.Decode(&s); err != nil {
		return err
	}
	x, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = x
	return nil
}
