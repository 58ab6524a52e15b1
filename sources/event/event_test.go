package event

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFieldsCoverDesign(t *testing.T) {
	// Every field of the README's field table, with its kind.
	want := map[string]Kind{
		"evt.type": KindString, "evt.syscall": KindString, "evt.time": KindTime,
		"evt.source": KindString, "evt.success": KindBool, "evt.res": KindInt, "evt.keys": KindStrings,
		"proc.pid": KindInt, "proc.tid": KindInt, "proc.ppid": KindInt, "proc.sid": KindInt, "proc.vpid": KindInt,
		"proc.name": KindString, "proc.exe": KindString, "proc.cmdline": KindString, "proc.args": KindStrings,
		"proc.cwd": KindString, "proc.uid": KindInt, "proc.gid": KindInt, "proc.euid": KindInt, "proc.auid": KindInt,
		"proc.user": KindString, "proc.tty": KindBool, "proc.exe_upper_layer": KindBool,
		"proc.pname": KindString, "proc.pexe": KindString, "proc.pcmdline": KindString, "proc.anames": KindStrings,
		"proc.stdin.type": KindString, "proc.stdout.rip": KindString, "proc.stderr.rport": KindInt,
		"container.id": KindString, "container.name": KindString, "container.image": KindString,
		"container.image_id": KindString, "container.runtime": KindString, "container.privileged": KindBool,
		"container.labels": KindMap, "k8s.pod.name": KindString, "k8s.ns.name": KindString,
		"ns.pid": KindInt, "ns.net": KindInt, "ns.mnt": KindInt,
		"fd.type": KindString, "fd.l4proto": KindString, "fd.sip": KindString, "fd.sport": KindInt,
		"fd.rip": KindString, "fd.rport": KindInt, "fd.name": KindString,
		"file.path": KindString, "file.target": KindString, "file.write": KindBool,
	}
	for name, kind := range want {
		f, ok := Lookup(name)
		if !ok {
			t.Errorf("field %s missing", name)
			continue
		}
		if f.Kind != kind {
			t.Errorf("field %s kind = %v, want %v", name, f.Kind, kind)
		}
		if f.Doc == "" {
			t.Errorf("field %s has no doc", name)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	ev := &Event{
		Evt:       Evt{Type: TypeExecve, Time: time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC), Source: SourceAudit, Success: true, Keys: []string{"exec"}},
		Proc:      Proc{PID: 42, Name: "bash", Args: []string{"bash", "-i"}, Stdin: Stdio{Type: StdioSocket, RIP: "10.0.0.1", RPort: 4444}},
		Container: Container{ID: HostID, Labels: map[string]string{"a": "b"}},
		K8s:       K8s{Pod: K8sPod{Name: "web"}},
	}
	b, err := MarshalJSONLine(ev)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"evt":{"type":"execve"`, `"time":"2026-11-22T10:00:00.123456789Z"`, `"stdin":{"type":"socket"`, `"k8s":{"pod":{"name":"web"}}`} {
		if !strings.Contains(s, want) {
			t.Errorf("encoding %s lacks %s", s, want)
		}
	}
	if strings.Contains(s, `"file"`) {
		t.Errorf("empty file object encoded: %s", s)
	}
	var got Event
	if err := UnmarshalJSON(b, &got); err != nil {
		t.Fatal(err)
	}
	b2, _ := MarshalJSONLine(&got)
	if string(b2) != s {
		t.Errorf("round trip:\n got %s\nwant %s", b2, s)
	}
}

func TestUnmarshalUnknownField(t *testing.T) {
	var ev Event
	err := UnmarshalJSON([]byte(`{"proc":{"nmae":"x"}}`), &ev)
	if err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Fatalf("err = %v, want unknown field nmae", err)
	}
}

func TestReadJSONLinesErrorLine(t *testing.T) {
	in := "{\"evt\":{\"type\":\"fork\"}}\n\n# comment\n{bad\n"
	n := 0
	err := ReadJSONLines(strings.NewReader(in), "x.jsonl", func(*Event) error { n++; return nil })
	if err == nil || !strings.HasPrefix(err.Error(), "x.jsonl:4:") {
		t.Fatalf("err = %v, want x.jsonl:4:", err)
	}
	if n != 1 {
		t.Fatalf("emitted %d events before the error, want 1", n)
	}
}

func TestPriority(t *testing.T) {
	for in, want := range map[string]Priority{"CRITICAL": PriorityCritical, "info": PriorityInformational, "Informational": PriorityInformational, "debug": PriorityDebug} {
		got, err := ParsePriority(in)
		if err != nil || got != want {
			t.Errorf("ParsePriority(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParsePriority("SEVERE"); err == nil {
		t.Error("ParsePriority(SEVERE) succeeded")
	}
}

func TestFieldValueAndFormat(t *testing.T) {
	ev := &Event{Proc: Proc{Name: "sh", Args: []string{"sh", "-c"}}, Container: Container{Labels: map[string]string{"b": "2", "a": "1"}}}
	cases := map[string]string{"proc.name": "sh", "proc.args": "sh,-c", "container.labels": "a=1,b=2", "proc.exe": "<NA>", "proc.pid": "<NA>", "proc.tty": "false",
		"proc.uid": "<NA>", "evt.res": "0", "proc.auid": "0", "ns.mnt": "<NA>", "fd.rport": "<NA>"}
	for name, want := range cases {
		f, _ := Lookup(name)
		if got := f.String(ev); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// setEvery sets every field of ev, the i-th of Fields to a value of its
// own: its name, i+1, true, the i-th second, [name], {k: name}.
func setEvery(ev *Event) {
	for i, f := range Fields() {
		switch p := f.Ptr(ev).(type) {
		case *string:
			*p = f.Name
		case *int:
			*p = i + 1
		case *bool:
			*p = true
		case *time.Time:
			*p = time.Unix(int64(i), 0)
		case *[]string:
			*p = []string{f.Name}
		case *map[string]string:
			*p = map[string]string{"k": f.Name}
		}
	}
}

// Ptr points at the same field as Value reads, for every field.
func TestFieldPtr(t *testing.T) {
	var ev Event
	setEvery(&ev)
	for i, f := range Fields() {
		want := map[Kind]any{KindString: f.Name, KindInt: i + 1, KindBool: true, KindTime: time.Unix(int64(i), 0),
			KindStrings: []string{f.Name}, KindMap: map[string]string{"k": f.Name}}[f.Kind]
		if got := f.Value(&ev); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Value %v after a write through Ptr of %v", f.Name, got, want)
		}
	}
}

// Unknown is what an event does not know: never a value a reader would take
// as real (uid 0 without a user name is not root).
func TestFieldUnknown(t *testing.T) {
	tests := []struct {
		name  string
		ev    Event
		field string
		want  any
	}{
		{"uid 0 with no user", Event{}, "proc.uid", nil},
		{"root", Event{Proc: Proc{User: "root"}}, "proc.uid", 0},
		{"euid 0 of root", Event{Proc: Proc{User: "root"}}, "proc.euid", 0},
		{"gid 0 with no user", Event{}, "proc.gid", nil},
		{"uid 1000 without a name", Event{Proc: Proc{UID: 1000}}, "proc.uid", 1000},
		{"auid 0 is a login as root", Event{}, "proc.auid", 0},
		{"pid 0", Event{}, "proc.pid", nil},
		{"pid", Event{Proc: Proc{PID: 7}}, "proc.pid", 7},
		{"success res 0", Event{}, "evt.res", 0},
		{"empty string", Event{}, "proc.exe", nil},
		{"empty list", Event{}, "proc.args", nil},
		{"empty labels", Event{}, "container.labels", nil},
		{"zero time", Event{}, "evt.time", nil},
		{"false", Event{}, "proc.tty", false},
		{"stdin port 0", Event{}, "proc.stdin.rport", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := Lookup(tt.field)
			if !ok {
				t.Fatalf("no field %s", tt.field)
			}
			if got := f.OutputValue(&tt.ev); got != tt.want {
				t.Errorf("%s OutputValue = %#v, want %#v", tt.field, got, tt.want)
			}
			if got, want := f.String(&tt.ev), FormatValue(tt.want); got != want {
				t.Errorf("%s String = %q, want %q", tt.field, got, want)
			}
		})
	}
}

func TestNewAfterRelease(t *testing.T) {
	ev := New()
	if !reflect.DeepEqual(*ev, Event{}) {
		t.Fatalf("New: not zero: %+v", ev)
	}
	ev.Evt.Type = TypeExecve
	ev.Proc.PID = 42
	args := []string{"/bin/true"}
	ev.Proc.Args = args
	ev.Container.ID = "abc"
	Release(ev)
	if !reflect.DeepEqual(*ev, Event{}) {
		t.Fatalf("Release left fields set: %+v", ev)
	}
	if args[0] != "/bin/true" {
		t.Fatal("Release changed what the event pointed to")
	}
	Release(nil) // no-op
	for range 100 {
		if got := New(); !reflect.DeepEqual(*got, Event{}) {
			t.Fatalf("New after Release: not zero: %+v", got)
		}
	}
}

// Value reads at the field's offset; it must give what reflect finds at the
// field's index, for every field, set and unset.
func TestValueMatchesReflect(t *testing.T) {
	var ev Event
	check := func(what string) {
		for _, f := range Fields() {
			want := reflect.ValueOf(&ev).Elem().FieldByIndex(f.index).Interface()
			if got := f.Value(&ev); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %s = %#v, reflect says %#v", what, f.Name, got, want)
			}
			var zero bool
			switch v := reflect.ValueOf(want); v.Kind() {
			case reflect.Slice, reflect.Map:
				zero = v.Len() == 0
			default:
				zero = v.IsZero()
			}
			if f.Kind != KindBool && f.Kind != KindInt && f.Unknown(&ev) != zero {
				t.Fatalf("%s: %s unknown %v with value %#v", what, f.Name, f.Unknown(&ev), want)
			}
		}
	}
	check("zero event")
	setEvery(&ev)
	check("every field set")
}
