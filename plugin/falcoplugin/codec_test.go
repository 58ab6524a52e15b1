package falcoplugin

import (
	"encoding/binary"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// binaryPayloads turns JSON lines into the payloads next_batch writes.
func binaryPayloads(t testing.TB, lines [][]byte) [][]byte {
	t.Helper()
	out := make([][]byte, len(lines))
	for i, l := range lines {
		var ev event.Event
		if err := event.UnmarshalJSON(l, &ev); err != nil {
			t.Fatal(err)
		}
		out[i] = appendPayload(nil, &ev, 0)
	}
	return out
}

// full sets every field of an event to a distinct non-zero value.
func full() event.Event {
	var ev event.Event
	for i, f := range event.Fields() {
		switch p := f.Ptr(&ev).(type) {
		case *string:
			*p = f.Name + " é\x00\n"
		case *int:
			*p = -1 - i<<40
		case *bool:
			*p = true
		case *time.Time:
			*p = time.Date(1500, 1, 2, 3, 4, 5, 999999999, time.FixedZone("", -5*3600))
		case *[]string:
			*p = []string{f.Name, "", "x"}
		case *map[string]string:
			*p = map[string]string{"a": f.Name, "": "empty key", "io.kubernetes.pod.name": "web-0"}
		}
	}
	return ev
}

func TestWireFieldsComplete(t *testing.T) {
	for _, f := range event.Fields() {
		if !slices.Contains(wireFields, f.Name) {
			t.Errorf("event field %s has no wire tag: append it to wireFields", f.Name)
		}
	}
	seen := map[string]bool{}
	for _, n := range wireFields {
		if seen[n] {
			t.Errorf("wire field %s listed twice", n)
		}
		seen[n] = true
	}
}

// The binary payload gives back the event the JSON line gives, for the
// fixture (real events) and for an event with every field set.
func TestPayloadRoundTrip(t *testing.T) {
	evs := []event.Event{full(), {}}
	for _, l := range fixtureLines(t) {
		var ev event.Event
		if err := event.UnmarshalJSON(l, &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	for i, ev := range evs {
		b := appendPayload(nil, &ev, 0)
		var got event.Event
		if err := decodePayload(b, &got); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !got.Evt.Time.Equal(ev.Evt.Time) {
			t.Errorf("event %d: time %v, want %v", i, got.Evt.Time, ev.Evt.Time)
		}
		_, off1 := got.Evt.Time.Zone()
		_, off2 := ev.Evt.Time.Zone()
		if off1 != off2 {
			t.Errorf("event %d: zone offset %d, want %d", i, off1, off2)
		}
		got.Evt.Time, ev.Evt.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, ev) {
			t.Errorf("event %d round trip:\n got %+v\nwant %+v", i, got, ev)
		}
	}
	if b := appendPayload(nil, &event.Event{}, 0); len(b) != payloadHeader {
		t.Errorf("empty event payload %x, want only the header", b)
	}
}

// A payload from a newer ruled, with fields this one does not know (and a
// known tag of another wire type), still yields every field both know.
func TestPayloadSkipsUnknownFields(t *testing.T) {
	ev := event.Event{Evt: event.Evt{Type: "execve"}, Proc: event.Proc{Name: "sh", PID: 7}}
	b := appendPayload(nil, &ev, 0)
	unknown := uint64(len(wireFields) + 50)
	b = binary.AppendUvarint(b, unknown<<3|wireInt)
	b = binary.AppendVarint(b, 12345)
	b = binary.AppendUvarint(b, (unknown+1)<<3|wireBytes)
	b = appendString(b, "new string field")
	b = binary.AppendUvarint(b, (unknown+2)<<3|wireList)
	b = binary.AppendUvarint(b, 2)
	b = appendString(appendString(b, "a"), "b")
	b = binary.AppendUvarint(b, (unknown+3)<<3|wireMap)
	b = binary.AppendUvarint(b, 1)
	b = appendString(appendString(b, "k"), "v")
	b = binary.AppendUvarint(b, (unknown+4)<<3|wireTime)
	b = binary.AppendVarint(b, 1)
	b = binary.AppendUvarint(b, 2)
	b = binary.AppendVarint(b, 3)
	b = binary.AppendUvarint(b, 1<<3|wireInt) // evt.type, as an int
	b = binary.AppendVarint(b, 9)
	b = binary.AppendUvarint(b, 22<<3|wireBytes) // proc.user
	b = appendString(b, "root")
	var got event.Event
	if err := decodePayload(b, &got); err != nil {
		t.Fatal(err)
	}
	ev.Proc.User = "root"
	if !reflect.DeepEqual(got, ev) {
		t.Errorf("got %+v, want %+v", got, ev)
	}
}

func TestPayloadErrors(t *testing.T) {
	good := full()
	b := appendPayload(nil, &good, 0)
	hdr := func(more ...byte) []byte { return append(appendPayload(nil, &event.Event{}, 0), more...) }
	for name, tt := range map[string]struct {
		in   []byte
		want string
	}{
		"header only magic": {[]byte{payloadMagic}, "truncated"},
		"future version":    {[]byte{payloadMagic, 9}, "payload version 9"},
		// Cut inside the last member (its key kept, its value not): a
		// cut between members is a shorter valid payload.
		"truncated":         {b[:len(b)-1], "truncated"},
		"short header":      {[]byte{payloadMagic, payloadVersion, 1, 2}, "truncated"},
		"unknown wire type": {hdr(7), "unknown wire type 7"},
		"huge list count":   {hdr(append([]byte{7<<3 | wireList}, binary.AppendUvarint(nil, 1<<40)...)...), "truncated"},
		"varint overflow":   {hdr(8<<3|wireInt, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), "overflows"},
		"json":              {[]byte("{not json"), "invalid character"},
		"empty":             {nil, "empty event"},
	} {
		var ev event.Event
		err := decodePayload(tt.in, &ev)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", name, err, tt.want)
		}
	}
}

// FuzzDecodePayload: damaged payloads are an error, never a panic, and a
// payload that decodes encodes back to one that decodes the same.
func FuzzDecodePayload(f *testing.F) {
	ev := full()
	f.Add(appendPayload(nil, &ev, 0))
	f.Add([]byte(`{"evt":{"type":"fork"}}`))
	f.Add(appendPayload(nil, &event.Event{}, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a event.Event
		if decodePayload(b, &a) != nil {
			return
		}
		var c event.Event
		if err := decodePayload(appendPayload(nil, &a, 0), &c); err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if !a.Evt.Time.Equal(c.Evt.Time) {
			t.Fatalf("time %v became %v", a.Evt.Time, c.Evt.Time)
		}
		a.Evt.Time, c.Evt.Time = time.Time{}, time.Time{}
		// encoding drops empty lists and maps, as JSON's omitempty does.
		for _, e := range []*event.Event{&a, &c} {
			for _, f := range event.Fields() {
				switch p := f.Ptr(e).(type) {
				case *[]string:
					if len(*p) == 0 {
						*p = nil
					}
				case *map[string]string:
					if len(*p) == 0 {
						*p = nil
					}
				}
			}
		}
		if !reflect.DeepEqual(a, c) {
			t.Fatalf("re-encoding changed the event:\n%+v\n%+v", a, c)
		}
	})
}

// Events next_batch sent lately are extracted from the recent table, with
// the same values another process gets by decoding their payloads (a
// capture file read back).
func TestRecentMatchesDecode(t *testing.T) {
	p, other := initPlugin(t, ""), initPlugin(t, "")
	abs, _ := filepath.Abs(fixture)
	inst, err := p.Open("replay:" + abs)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := drain(t, p, inst, 4)
	inst.(*Instance).Close()
	if len(got) != len(fixtureLines(t)) {
		t.Fatalf("%d events", len(got))
	}
	num := uint64(0)
	for i, payload := range got {
		if p.recent.get(payload) == nil {
			t.Fatalf("event %d not in the recent table", i)
		}
		if other.recent.get(payload) != nil {
			t.Fatalf("event %d in another plugin's table", i)
		}
		num++
		for _, e := range FieldEntries()[:len(event.Fields())] {
			key := ""
			if e.Arg.IsRequired {
				key = "app"
			}
			a, aset := extract(t, p, &fakeReader{num: num, data: payload}, e.Name, key)
			b, bset := extract(t, other, &fakeReader{num: num, data: payload}, e.Name, key)
			if aset != bset || !reflect.DeepEqual(a, b) {
				t.Errorf("event %d %s: recent %v (%v), decoded %v (%v)", i, e.Name, a, aset, b, bset)
			}
		}
	}
}
