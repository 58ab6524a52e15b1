package replay

import (
	"bytes"
	"context"
	"flag"
	"fmt"
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

func goodJSON(pid int, cmdline string) string {
	return fmt.Sprintf(`{"evt":{"type":"execve","time":"2026-01-01T00:00:00Z","source":"audit","success":true},"proc":{"pid":%d,"cmdline":%q,"uid":0,"gid":0,"euid":0,"auid":0},"container":{"id":"host"}}`, pid, cmdline)
}

func auditExec(seq, pid int, comm string) string {
	return fmt.Sprintf("type=SYSCALL msg=audit(1.000:%d): arch=c000003e syscall=59 success=yes exit=0 pid=%d comm=%q exe=\"/x\" key=\"exec\"\n", seq, pid, comm)
}

// TestReadsThroughDamage: a bad line is skipped, counted and named, and
// every event after it is still read, including lines far beyond
// bufio.Scanner's 64 KiB default.
func TestReadsThroughDamage(t *testing.T) {
	long := strings.Repeat("a", 2<<20) // a 2 MiB command line
	tests := []struct {
		name      string
		input     string
		wantPIDs  []int
		wantFirst []string // prefixes of Stats.First
	}{
		{
			name: "audit log",
			input: auditExec(1, 5, "x") + "garbage here\n" + auditExec(2, 6, "y") +
				"type=SYSCALL msg=audit(nonsense): x=1\n" +
				// One record far longer than any the kernel writes (8,970
				// bytes), split over many reads.
				auditExec(3, 7, strings.Repeat("z", 200<<10)) +
				"type=SYSCALL " + strings.Repeat("q", MaxLineSize+10) + "\n" +
				auditExec(4, 8, "w"),
			wantPIDs:  []int{5, 6, 7, 8},
			wantFirst: []string{"in.log:2: ", "in.log:4: ", "in.log:6: line too long"},
		},
		{
			name: "json",
			input: goodJSON(1, "a") + "\n{broken json\n{\"evt\":{\"typo\":1}}\n" + goodJSON(2, long) + "\n" +
				"{" + strings.Repeat(" ", event.MaxLineSize) + "}\n" + goodJSON(3, "c") + "\n",
			wantPIDs:  []int{1, 2, 3},
			wantFirst: []string{"in.log:2: invalid character 'b'", `in.log:3: json: unknown field "typo"`, "in.log:5: line too long"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Open(strings.NewReader(tt.input), "in.log")
			evs, err := runAll(t, src)
			if err != nil {
				t.Fatalf("err = %v, want the read to go on", err)
			}
			var pids []int
			for _, ev := range evs {
				pids = append(pids, ev.Proc.PID)
			}
			if fmt.Sprint(pids) != fmt.Sprint(tt.wantPIDs) {
				t.Errorf("events of pids %v, want %v", pids, tt.wantPIDs)
			}
			if tt.name == "json" && (len(evs) < 2 || evs[1].Proc.Cmdline != long) {
				t.Errorf("the 2 MiB line was not read whole")
			}
			st := src.Stats()
			if st.Skipped != len(tt.wantFirst) || st.Events != len(tt.wantPIDs) || len(st.First) != len(tt.wantFirst) {
				t.Fatalf("stats %d events, %d skipped, named %q; want %d, %d", st.Events, st.Skipped, st.First, len(tt.wantPIDs), len(tt.wantFirst))
			}
			for i, want := range tt.wantFirst {
				if !strings.HasPrefix(st.First[i], want) {
					t.Errorf("skipped line %d named %q, want prefix %q", i, st.First[i], want)
				}
			}
		})
	}
}

// TestSkippedNamedUpToMax: all bad lines are counted, the first MaxNamed
// are named.
func TestSkippedNamedUpToMax(t *testing.T) {
	var in strings.Builder
	for i := range 25 {
		in.WriteString(goodJSON(i, "x") + "\n{bad\n")
	}
	src := Open(strings.NewReader(in.String()), "many.jsonl")
	evs, err := runAll(t, src)
	st := src.Stats()
	if err != nil || len(evs) != 25 || st.Skipped != 25 || len(st.First) != MaxNamed {
		t.Fatalf("%d events, err %v, stats %+v", len(evs), err, st)
	}
	if !strings.HasPrefix(st.First[MaxNamed-1], fmt.Sprintf("many.jsonl:%d:", 2*MaxNamed)) {
		t.Errorf("last named line %q", st.First[MaxNamed-1])
	}
	if got := st.Summary(); got != "replay many.jsonl: 25 events, 25 bad lines skipped" {
		t.Errorf("summary %q", got)
	}
}

// TestReadStopsAtFirstBadLine: the strict readers (rule tests, fixtures)
// still stop at a bad line and name it.
func TestReadStopsAtFirstBadLine(t *testing.T) {
	n := 0
	err := ReadAuditLog(strings.NewReader(auditExec(1, 5, "x")+auditExec(2, 6, "y")+"garbage\n"+auditExec(3, 7, "z")), "in.log",
		func(*event.Event) error { n++; return nil })
	if err == nil || !strings.HasPrefix(err.Error(), "in.log:3:") || n != 1 {
		t.Fatalf("err = %v after %d events, want in.log:3: after 1", err, n)
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
