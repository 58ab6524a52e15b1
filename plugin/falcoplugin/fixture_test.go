package falcoplugin

import (
	"os"
	"testing"

	"github.com/ruled/ruled/sources/event"
)

// The fixture must stay valid in the strict -replay decoder too.
func TestFixtureStrict(t *testing.T) {
	f, err := os.Open("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	if err := event.ReadJSONLines(f, "events.jsonl", func(*event.Event) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 11 {
		t.Fatalf("fixture has %d events, want 11", n)
	}
}
