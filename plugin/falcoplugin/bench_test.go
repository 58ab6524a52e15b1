package falcoplugin

import (
	"testing"

	"github.com/ruled/ruled/sources/event"
)

func fixtureEvents(b *testing.B) []*event.Event {
	var evs []*event.Event
	for _, l := range fixtureLines(b) {
		ev := new(event.Event)
		if err := event.UnmarshalJSON(l, ev); err != nil {
			b.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// BenchmarkEncode is the per-event cost of the wire encoding in next_batch;
// bytes/event is its size.
func BenchmarkEncode(b *testing.B) {
	evs := fixtureEvents(b)
	var enc encoder
	var size, n int
	b.ReportAllocs()
	for b.Loop() {
		out := enc.encode(evs[n%len(evs)], uint64(n))
		size += len(out)
		n++
	}
	b.ReportMetric(float64(size)/float64(n), "bytes/event")
}

// BenchmarkDecode is the once-per-event decode at extraction: the binary
// payload, and the JSON line of older captures.
func BenchmarkDecode(b *testing.B) {
	for _, enc := range []string{"binary", "json"} {
		b.Run(enc, func(b *testing.B) {
			lines := fixtureLines(b)
			if enc == "binary" {
				lines = binaryPayloads(b, lines)
			}
			var ev event.Event
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				ev = event.Event{}
				if err := decodePayload(lines[n%len(lines)], &ev); err != nil {
					b.Fatal(err)
				}
				n++
			}
		})
	}
}

// BenchmarkExtractTen extracts ten fields per event in-process (decode once
// plus ten SetValue calls on a fake request).
func BenchmarkExtractTen(b *testing.B) {
	p := New("")
	if err := p.Init(`{"log_level":"error"}`); err != nil {
		b.Fatal(err)
	}
	lines := binaryPayloads(b, fixtureLines(b))
	names := []string{"ruled.evt.type", "ruled.evt.time", "ruled.evt.success", "ruled.proc.name", "ruled.proc.pid",
		"ruled.proc.cmdline", "ruled.proc.pname", "ruled.proc.args", "ruled.container.id", "ruled.container.labels"}
	reqs := make([]*fakeRequest, len(names))
	for i, n := range names {
		key := ""
		if n == "ruled.container.labels" {
			key = "app"
		}
		reqs[i] = newRequest(n, key)
	}
	var num uint64
	b.ReportAllocs()
	for b.Loop() {
		num++
		r := &fakeReader{num: num, data: lines[num%uint64(len(lines))]}
		for _, q := range reqs {
			if err := p.Extract(q, r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
