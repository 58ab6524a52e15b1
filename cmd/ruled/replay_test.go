package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A damaged capture is read to the end: the alert of the event after the
// broken line is raised, the broken line is named, and the exit status is
// 1 so a script sees the damage.
func TestReplayReadsThroughDamage(t *testing.T) {
	good, err := os.ReadFile(td + "events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := strings.Cut(string(good), "\n")
	damaged := filepath.Join(t.TempDir(), "mixed.jsonl")
	if err := os.WriteFile(damaged, []byte(first+"\n{broken json\n"+rest), 0o644); err != nil {
		t.Fatal(err)
	}
	cleanCode, cleanOut, cleanErr := run(t, "-replay", td+"events.jsonl", "-output", "json")
	if cleanCode != 0 || strings.Contains(cleanErr, "bad line") {
		t.Fatalf("clean replay: exit %d\n%s", cleanCode, cleanErr)
	}
	// A replay logs whether its alerts were delivered.
	want := fmt.Sprintf(`msg="output stats" output=json sent=%d failed=0`, strings.Count(cleanOut, "\n"))
	if strings.Count(cleanOut, "\n") == 0 || !strings.Contains(cleanErr, want) {
		t.Errorf("clean replay: stderr lacks %s:\n%s", want, cleanErr)
	}
	code, out, errOut := run(t, "-replay", damaged, "-output", "json")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if out != cleanOut {
		t.Errorf("alerts differ from the clean replay's:\n%s\nwant\n%s", out, cleanOut)
	}
	for _, want := range []string{
		"ruled: " + damaged + ":2: invalid character 'b'",
		"ruled: replay " + damaged + ": ",
		", 1 bad line skipped",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	code, out, errOut = run(t, "events", "-replay", damaged)
	_, cleanEvents, _ := run(t, "events", "-replay", td+"events.jsonl")
	if code != 1 || out != cleanEvents || !strings.Contains(errOut, "ruled events: "+damaged+":2: ") {
		t.Errorf("events: exit %d, same events %v, stderr:\n%s", code, out == cleanEvents, errOut)
	}
}
