package event

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// oracle is UnmarshalJSON as it was, on encoding/json alone (the fast
// path's fallback).
var oracle = unmarshalStd

var decodeSeeds = []string{
	`{"evt":{"type":"execve","syscall":"execve","time":"2026-11-22T10:00:00.123456789Z","source":"audit","success":true,"res":-13,"keys":["exec","x"]},"proc":{"pid":42,"tid":42,"ppid":1,"sid":7,"vpid":3,"name":"sh","exe":"/bin/sh","cmdline":"sh -c \"id\"","args":["sh","-c","id"],"cwd":"/","uid":0,"gid":0,"euid":0,"auid":4294967295,"user":"root","tty":true,"exe_upper_layer":true,"pname":"java","pexe":"/usr/bin/java","pcmdline":"java -jar x","anames":["java","containerd-shim"],"stdin":{"type":"socket","name":"1.2.3.4:5->6.7.8.9:10","l4proto":"tcp","sip":"1.2.3.4","sport":5,"rip":"6.7.8.9","rport":10},"stdout":{"type":"pipe"},"stderr":{"type":"tty","name":"/dev/pts/0"}},"container":{"id":"abc","name":"web","image":"nginx","image_id":"sha256:00","runtime":"docker","privileged":true,"labels":{"app":"web","a\u00e9":"\u003c\/x\u003e"}},"k8s":{"pod":{"name":"p"},"ns":{"name":"n"}},"ns":{"pid":1,"net":2,"mnt":3},"fd":{"type":"ipv4","l4proto":"udp","sip":"::1","sport":1,"rip":"::2","rport":2,"name":"x"},"file":{"path":"/etc/shadow","target":"/tmp/x","write":true}}`,
	`{"evt":{"type":"fork"},"proc":{"pid":1},"container":{"id":""}}`,
	` {"evt":{"type":"fork"}} `,
	`{"proc":{"args":[],"cmdline":"tab\there\u0001 \u2028 \ud83d\ude00 é"},"container":{"labels":{}}}`,
	`{"proc":{"pid":1},"proc":{"uid":2},"container":{"labels":{"a":"1"},"labels":{"b":"2"}}}`,
	`{"EVT":{"Type":"fork"}}`,
	`{"evt":{"type":null}}`,
	`{"proc":{"pid":1.0}}`,
	`{"proc":{"pid":1e3}}`,
	`{"proc":{"pid":-0}}`,
	`{"proc":{"pid":01}}`,
	`{"proc":{"pid":9223372036854775807,"uid":-9223372036854775808}}`,
	`{"proc":{"pid":9223372036854775808}}`,
	`{"proc":{"name":"\ud800"}}`,
	"{\"proc\":{\"name\":\"\xff\"}}",
	`{"proc":{"nmae":"x"}}`,
	`{"evt":{"time":"2026-11-22T10:00:00+02:00"}}`,
	`{"evt":{"time":"not a time"}}`,
	`{"evt":{"time":"2026-11-22T10:00:00\u005a"}}`,
	`{"evt":{"type":"fork"}} ]`,
	`{"evt":{"type":"fork"}} {}`,
	`{"evt":{"type":"fork"}`,
	`{bad`,
	``,
	`[]`,
	`{"proc":{"tty":"true"}}`,
	`{"proc":{"args":["a",1]}}`,
	`{"k8s":{"pod":{"name":"a","x":1}}}`,
}

// FuzzDecodeDifferential holds UnmarshalJSON to encoding/json on any
// input: the same error text, or the same event.
func FuzzDecodeDifferential(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want Event
		gotErr, wantErr := UnmarshalJSON(b, &got), oracle(b, &want)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("input %q: error %v, encoding/json %v", b, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("input %q:\n got %+v\nwant %+v", b, got, want)
		}
		var lax, laxWant Event
		laxErr, laxWantErr := UnmarshalJSONLenient(b, &lax), json.Unmarshal(b, &laxWant)
		if (laxErr == nil) != (laxWantErr == nil) || (laxErr != nil && laxErr.Error() != laxWantErr.Error()) {
			t.Fatalf("lenient, input %q: error %v, json.Unmarshal %v", b, laxErr, laxWantErr)
		}
		if laxErr == nil && !reflect.DeepEqual(lax, laxWant) {
			t.Fatalf("lenient, input %q:\n got %+v\nwant %+v", b, lax, laxWant)
		}
	})
}

// FuzzDecodeRoundTrip: every event MarshalJSONLine writes decodes back to
// itself, on the fast path.
func FuzzDecodeRoundTrip(f *testing.F) {
	f.Add("execve", "sh", "sh -c \"x\" <&>", "web", "app", "1", int64(42), int64(-13), int64(1764000000123456789), true)
	f.Add("", "\u2028\x00\x1f\x7f", "é😀", "", "", "", int64(0), int64(-1<<63), int64(0), false)
	f.Fuzz(func(t *testing.T, typ, name, cmdline, cname, lk, lv string, pid, res, ns int64, b bool) {
		for _, s := range []string{typ, name, cmdline, cname, lk, lv} {
			if !utf8.ValidString(s) {
				return // encoded as U+FFFD: not a round trip by design
			}
		}
		ev := Event{
			Evt:       Evt{Type: typ, Time: time.Unix(0, ns).UTC(), Success: b, Res: int(res), Keys: []string{typ, name}},
			Proc:      Proc{PID: int(pid), Name: name, Cmdline: cmdline, Args: strings.Fields(cmdline), TTY: b, Stdin: Stdio{Name: name, SPort: int(pid)}},
			Container: Container{ID: cname, Name: cname, Labels: map[string]string{lk: lv}},
			K8s:       K8s{Pod: K8sPod{Name: cname, UID: lv}},
			FD:        FD{Name: cmdline, RPort: int(res)},
			File:      File{Path: name, Write: b},
		}
		if len(ev.Proc.Args) == 0 {
			ev.Proc.Args = nil // omitempty: [] is not written
		}
		line, err := MarshalJSONLine(&ev)
		if err != nil {
			t.Fatal(err)
		}
		var got Event
		if !fastDecode(line, &got) {
			t.Fatalf("fast path refused its own encoding %s", line)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", line, got, ev)
		}
	})
}

// TestFastPathTaken keeps the fast path in use for what ruled writes: a
// regression to encoding/json would pass every other test.
func TestFastPathTaken(t *testing.T) {
	for _, s := range decodeSeeds[:5] {
		var ev Event
		if !fastDecode([]byte(s), &ev) {
			t.Errorf("fast path refused %s", s)
		}
	}
}

func BenchmarkUnmarshalJSON(b *testing.B) {
	line := []byte(decodeSeeds[0])
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		var ev Event
		if err := UnmarshalJSON(line, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalJSONStdlib(b *testing.B) {
	line := []byte(decodeSeeds[0])
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		var ev Event
		if err := oracle(line, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
