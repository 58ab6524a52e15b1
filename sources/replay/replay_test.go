package replay

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ruled/ruled/sources/event"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func runAll(t *testing.T, s *Source) ([]*event.Event, error) {
	t.Helper()
	var evs []*event.Event
	err := s.Run(context.Background(), func(ev *event.Event) { evs = append(evs, ev) })
	return evs, err
}

func TestAuditLogGolden(t *testing.T) {
	evs, err := runAll(t, New("testdata/audit.log", nil))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, ev := range evs {
		b, err := event.MarshalJSONLine(ev)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	const golden = "testdata/audit.golden"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("replayed events differ from %s (-want +got):\n%s", golden, diff)
	}
}

// TestAuditLogCases checks the events Debian's auditd (ENRICHED format)
// wrote for the triggers: /bin/echo with a multibyte arg, a read of
// /etc/shadow, a refused connect, a write/rename/unlink under /etc.
func TestAuditLogCases(t *testing.T) {
	evs, err := runAll(t, New("testdata/audit.log", nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		match func(*event.Event) bool
	}{
		{"exec with enriched suffix stripped", func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeExecve && ev.Proc.Exe == "/usr/bin/echo" &&
				cmp.Equal(ev.Proc.Args, []string{"/bin/echo", "hello", "two words", "ünï"}) && ev.Proc.Cmdline == "/bin/echo hello two words ünï"
		}},
		{"shadow read", func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeOpen && ev.File.Path == "/etc/shadow" && !ev.File.Write && ev.Proc.Name == "cat"
		}},
		{"connect refused", func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeConnect && ev.FD.RIP == "127.0.0.1" && ev.FD.RPort == 1 && !ev.Evt.Success && ev.Evt.Res == -111
		}},
		{"create under /etc", func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeOpen && ev.File.Path == "/etc/ruled-replay.tmp" && ev.File.Write
		}},
		{"rename under /etc", func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeRename && ev.File.Path == "/etc/ruled-replay.tmp" && ev.File.Target == "/etc/ruled-replay.tmp2"
		}},
		{"unlink under /etc", func(ev *event.Event) bool {
			return ev.Evt.Type == event.TypeUnlink && ev.File.Path == "/etc/ruled-replay.tmp2"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, ev := range evs {
				if tt.match(ev) {
					if ev.Evt.Source != event.SourceReplay || ev.Evt.Time.IsZero() || ev.Proc.PID == 0 {
						t.Errorf("source %q time %v pid %d", ev.Evt.Source, ev.Evt.Time, ev.Proc.PID)
					}
					return
				}
			}
			t.Error("no matching event")
		})
	}
}

func TestJSONLinesKeptAsRecorded(t *testing.T) {
	evs, err := runAll(t, New("testdata/audit.log", nil))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString("\n# recorded by ruled events\n")
	for _, ev := range evs[:5] {
		ev.Evt.Source = event.SourceProcconn // must survive untouched
		ev.Container.ID = "host"
		b, _ := event.MarshalJSONLine(ev)
		buf.Write(b)
	}
	got, err := runAll(t, Open(&buf, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(evs[:5], got); diff != "" {
		t.Errorf("JSON replay changed events (-want +got):\n%s", diff)
	}
}

func TestBadLine(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
		wantN   int
	}{
		{
			name: "audit log",
			input: "type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=59 success=yes exit=0 pid=5 comm=\"x\" exe=\"/x\" key=\"exec\"\n" +
				"type=SYSCALL msg=audit(1.000:2): arch=c000003e syscall=59 success=yes exit=0 pid=6 comm=\"y\" exe=\"/y\" key=\"exec\"\n" +
				"garbage here\n",
			wantErr: "in.log:3:",
			wantN:   1,
		},
		{
			name:    "json",
			input:   `{"evt":{"type":"execve","time":"2026-01-01T00:00:00Z","source":"audit","success":true},"proc":{"pid":1,"uid":0,"gid":0,"euid":0,"auid":0},"container":{"id":"host"}}` + "\n{\"evt\":{\"typo\":1}}\n",
			wantErr: "in.log:2:",
			wantN:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := runAll(t, Open(strings.NewReader(tt.input), "in.log"))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to name %s", err, tt.wantErr)
			}
			if len(evs) != tt.wantN {
				t.Errorf("%d events before the error, want %d", len(evs), tt.wantN)
			}
		})
	}
}

func TestEmptyAndMissing(t *testing.T) {
	evs, err := runAll(t, Open(strings.NewReader("\n\n"), "empty"))
	if err != nil || len(evs) != 0 {
		t.Errorf("empty input: %d events, %v", len(evs), err)
	}
	if _, err := runAll(t, New("testdata/does-not-exist", nil)); err == nil {
		t.Error("missing file: no error")
	}
}

func FuzzReadAuditLog(f *testing.F) {
	b, err := os.ReadFile("testdata/audit.log")
	if err != nil {
		f.Fatal(err)
	}
	lines := bytes.Split(b, []byte("\n"))
	for i := 0; i+4 < len(lines) && i < 80; i += 4 {
		f.Add(bytes.Join(lines[i:i+4], []byte("\n")))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = ReadAuditLog(bytes.NewReader(in), "fuzz", func(*event.Event) error { return nil })
	})
}

func BenchmarkReadAuditLog(b *testing.B) {
	data, err := os.ReadFile("testdata/audit.log")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	var n int
	for b.Loop() {
		n = 0
		if err := ReadAuditLog(bytes.NewReader(data), "bench", func(*event.Event) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
