package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCLeavesTheEnvironmentsChoice(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	env := map[string]string{"GOGC": "100"}
	p, l := tuneGC(func(k string) string { return env[k] })
	if p || !l {
		t.Fatalf("GOGC set: applied percent %v limit %v, want only the limit", p, l)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d after GOGC=100 in the environment", got)
	}
	if got := debug.SetMemoryLimit(-1); got != memoryLimit {
		t.Errorf("memory limit %d, want %d", got, memoryLimit)
	}
	env = map[string]string{"GOMEMLIMIT": "1GiB"}
	debug.SetMemoryLimit(1 << 30)
	p, l = tuneGC(func(k string) string { return env[k] })
	if !p || l {
		t.Fatalf("GOMEMLIMIT set: applied percent %v limit %v, want only the percent", p, l)
	}
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GC percent %d, want %d", got, gcPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("memory limit %d after GOMEMLIMIT in the environment", got)
	}
}
