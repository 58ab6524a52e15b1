package outputs

import (
	"strconv"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// AppendLine appends the stdout output's line for a, without newline, in
// Falco's style: "15:04:05.000000000: Critical RULE: OUTPUT", the time in the
// local zone, plus " (suppressed N similar)" when the rate limiter held
// alerts back. Control characters in the rule or output are escaped
// (event.AppendEscaped), which also keeps the alert on one line.
func AppendLine(dst []byte, a *event.Alert) []byte {
	dst = appendFalcoPrefix(dst, a)
	dst = event.AppendEscaped(dst, a.Rule)
	dst = append(dst, ": "...)
	dst = event.AppendEscaped(dst, a.Output)
	if a.Suppressed > 0 {
		dst = append(dst, " (suppressed "...)
		dst = strconv.AppendUint(dst, a.Suppressed, 10)
		dst = append(dst, " similar)"...)
	}
	return dst
}

// appendFalcoPrefix appends what Falco puts before an alert's text, in its
// stdout line and its JSON output alike: the event time (local zone,
// nanoseconds) and the priority, "15:04:05.000000000: Critical ".
func appendFalcoPrefix(dst []byte, a *event.Alert) []byte {
	dst = a.Time.Local().AppendFormat(dst, "15:04:05.000000000")
	dst = append(dst, ": "...)
	dst = append(dst, a.Priority.String()...)
	return append(dst, ' ')
}

// falcoAlert is the wire shape of Falco's JSON alert (and falcosidekick's
// FalcoPayload): output with Falco's prefix (falcoOutput), priority as
// Falco's word, time RFC 3339 in UTC with nanoseconds, tags and
// output_fields never null (an unknown field is null in output_fields).
type falcoAlert struct {
	Hostname     string         `json:"hostname"`
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags"`
	Time         time.Time      `json:"time"`
	OutputFields map[string]any `json:"output_fields"`
	Suppressed   uint64         `json:"suppressed,omitempty"`
}

func toFalco(a *event.Alert, withSuppressed bool) falcoAlert {
	f := falcoAlert{
		Hostname:     a.Hostname,
		Output:       falcoOutput(a),
		Priority:     a.Priority.String(),
		Rule:         a.Rule,
		Source:       a.Source,
		Tags:         a.Tags,
		Time:         a.Time.UTC(),
		OutputFields: a.OutputFields,
	}
	if f.Tags == nil {
		f.Tags = []string{}
	}
	if f.OutputFields == nil {
		f.OutputFields = map[string]any{}
	}
	if f.Source == "" {
		f.Source = event.AlertSource
	}
	if withSuppressed {
		f.Suppressed = a.Suppressed
	}
	return f
}

// falcoOutput is the output text as Falco's JSON carries it: the event time
// (local zone, nanoseconds) and the priority before the rendered rule
// output, "18:29:09.254114109: Critical Shell spawned ...". falcosidekick's
// OUTPUTFIELDFORMAT and custom fields edit this text after that prefix.
func falcoOutput(a *event.Alert) string {
	b := appendFalcoPrefix(make([]byte, 0, len(a.Output)+32), a)
	b = append(b, a.Output...)
	return string(b)
}

// AppendJSON appends a as one line of Falco alert JSON (no newline); the
// json and file outputs write these lines. Suppressed appears when non-zero.
// The bytes are those of encoding/json on toFalco(a, true).
func AppendJSON(dst []byte, a *event.Alert) ([]byte, error) {
	return appendFalcoJSON(dst, a)
}
