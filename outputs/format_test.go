package outputs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ruled/ruled/sources/event"
)

func testAlert() event.Alert {
	return event.Alert{
		Time:     time.Date(2026, 11, 22, 12, 0, 0, 123456789, time.UTC),
		Rule:     "Shell spawned by JVM",
		Priority: event.PriorityCritical,
		Output:   "Shell spawned by java (cmd=sh -c id parent=java -jar app.jar)",
		OutputFields: map[string]any{
			"evt.type": "execve", "proc.pid": 4242, "proc.name": "sh", "proc.cmdline": "sh -c id",
			"container.id": "0123456789ab", "container.name": "web",
		},
		Source:   "ruled",
		Tags:     []string{"container", "mitre_execution"},
		Hostname: "node1",
	}
}

func TestAppendLine(t *testing.T) {
	t.Setenv("TZ", "UTC")
	time.Local = time.UTC
	tests := []struct {
		name string
		edit func(*event.Alert)
		want string
	}{
		{"plain", func(*event.Alert) {}, "12:00:00.123456789: Critical Shell spawned by JVM: Shell spawned by java (cmd=sh -c id parent=java -jar app.jar)"},
		{"suppressed", func(a *event.Alert) { a.Suppressed = 7 }, "12:00:00.123456789: Critical Shell spawned by JVM: Shell spawned by java (cmd=sh -c id parent=java -jar app.jar) (suppressed 7 similar)"},
		{"newline in output", func(a *event.Alert) { a.Output = "a\nb\rc"; a.Priority = event.PriorityDebug }, `12:00:00.123456789: Debug Shell spawned by JVM: a\nb\rc`},
		{"control characters in output", func(a *event.Alert) { a.Output = "cmd=printf \x1b[2J\x00\t\x7f \u009b1m \x9b é" },
			`12:00:00.123456789: Critical Shell spawned by JVM: cmd=printf \x1b[2J\x00\t\x7f \u009b1m \x9b é`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAlert()
			tt.edit(&a)
			if got := string(AppendLine(nil, &a)); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestAppendJSON(t *testing.T) {
	t.Setenv("TZ", "UTC")
	time.Local = time.UTC
	a := testAlert()
	a.Suppressed = 3
	a.OutputFields["proc.uid"] = nil // unknown: null, as Falco sends
	b, err := AppendJSON(nil, &a)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"time": "2026-11-22T12:00:00.123456789Z", "rule": "Shell spawned by JVM", "priority": "Critical",
		// Falco's prefix: event time (local zone) and priority.
		"output": "12:00:00.123456789: Critical " + a.Output, "source": "ruled", "hostname": "node1", "tags": []any{"container", "mitre_execution"},
		"suppressed": 3.0,
		"output_fields": map[string]any{"evt.type": "execve", "proc.pid": 4242.0, "proc.name": "sh", "proc.cmdline": "sh -c id",
			"container.id": "0123456789ab", "container.name": "web", "proc.uid": nil},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// Nil tags and fields still encode as Falco does: [] and {}.
	b, _ = AppendJSON(nil, &event.Alert{Rule: "r"})
	if !strings.Contains(string(b), `"tags":[]`) || !strings.Contains(string(b), `"output_fields":{}`) || strings.Contains(string(b), "suppressed") {
		t.Errorf("empty alert: %s", b)
	}
}

// TestAppendJSONControlCharacters: the JSON outputs carry event fields
// exactly (JSON escapes what it must), and stay valid JSON.
func TestAppendJSONControlCharacters(t *testing.T) {
	a := testAlert()
	raw := "printf \x1b[2J\x00\x7f\u009b\u2028"
	a.Output = "cmd=" + raw
	a.OutputFields["proc.cmdline"] = raw
	b, err := AppendJSON(nil, &a)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) || strings.ContainsAny(string(b), "\x1b\x00\n") {
		t.Fatalf("not one valid JSON line: %q", b)
	}
	var got falcoAlert
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got.Output, ": Critical "+a.Output) || got.OutputFields["proc.cmdline"] != raw {
		t.Errorf("round trip: output %q cmdline %q", got.Output, got.OutputFields["proc.cmdline"])
	}
}

func TestRFC5424(t *testing.T) {
	h := RFC5424{Facility: 16, Hostname: "fallback", AppName: "ruled", ProcID: "77"}
	tests := []struct {
		name string
		edit func(*event.Alert)
		want string
	}{
		{"critical local0", func(*event.Alert) {},
			`<130>1 2026-11-22T12:00:00.123456Z node1 ruled 77 alert [ruled@32473 rule="Shell spawned by JVM" priority="Critical" container_id="0123456789ab" container_name="web" proc_name="sh" proc_pid="4242" evt_type="execve" tags="container,mitre_execution"] Critical Shell spawned by JVM: Shell spawned by java (cmd=sh -c id parent=java -jar app.jar)`},
		{"escaping", func(a *event.Alert) {
			a.Rule = `Odd "rule" \ with ] chars`
			a.OutputFields = map[string]any{"container.name": "a]b\"c\\d"}
			a.Tags = nil
			a.Priority = event.PriorityDebug
			a.Output = "x\ny"
		},
			`<135>1 2026-11-22T12:00:00.123456Z node1 ruled 77 alert [ruled@32473 rule="Odd \"rule\" \\ with \] chars" priority="Debug" container_name="a\]b\"c\\d"] Debug Odd "rule" \ with ] chars: x\ny`},
		{"control characters", func(a *event.Alert) {
			a.OutputFields = map[string]any{"proc.name": "x\x1b[2Jy", "container.name": "c\u0085\x7f\n"}
			a.Tags = nil
			a.Output = "cmd=\x1b]0;title\x07 \x9b"
		},
			`<130>1 2026-11-22T12:00:00.123456Z node1 ruled 77 alert [ruled@32473 rule="Shell spawned by JVM" priority="Critical" container_name="c\u0085\x7f\n" proc_name="x\x1b[2Jy"] Critical Shell spawned by JVM: cmd=\x1b]0;title\x07 \x9b`},
		{"no hostname no time", func(a *event.Alert) {
			a.Hostname = ""
			a.Time = time.Time{}
			a.OutputFields = nil
			a.Tags = nil
			a.Suppressed = 2
			a.Priority = event.PriorityEmergency
		},
			`<128>1 - fallback ruled 77 alert [ruled@32473 rule="Shell spawned by JVM" priority="Emergency" suppressed="2"] Emergency Shell spawned by JVM: Shell spawned by java (cmd=sh -c id parent=java -jar app.jar)`},
		{"hostname with space", func(a *event.Alert) { a.Hostname = "my host"; a.OutputFields = nil; a.Tags = nil },
			`<130>1 2026-11-22T12:00:00.123456Z my_host ruled 77 alert [ruled@32473 rule="Shell spawned by JVM" priority="Critical"] Critical Shell spawned by JVM: Shell spawned by java (cmd=sh -c id parent=java -jar app.jar)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAlert()
			tt.edit(&a)
			if got := string(h.Append(nil, &a)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestFacility(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{{"", 16}, {"daemon", 3}, {"LOCAL7", 23}, {"auth", 4}}
	for _, tt := range tests {
		got, err := facilityCode(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("facilityCode(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	if _, err := facilityCode("local8"); err == nil {
		t.Error("local8 accepted")
	}
}

func FuzzRFC5424Param(f *testing.F) {
	f.Add("plain")
	f.Add(`a"b\c]d`)
	f.Fuzz(func(t *testing.T, v string) {
		b := appendParam(nil, "k", v)
		// The value must end at the first unescaped quote: the last byte.
		s := string(b[len(` k="`):])
		for i := 0; i < len(s)-1; i++ {
			switch s[i] {
			case '\\':
				i++
			case '"', ']':
				t.Fatalf("unescaped %q at %d in %q", s[i], i, s)
			}
		}
		if s[len(s)-1] != '"' {
			t.Fatalf("not closed: %q", s)
		}
		if e := event.Escape(s); e != s {
			t.Fatalf("control character or non-UTF-8 byte left in %q", s)
		}
	})
}
