package main

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/ruled/ruled/sources/pipeline"
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

func TestTuneProcsLeavesTheEnvironmentsChoice(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(7)
	alone := []string{pipeline.Procconn}
	if n := tuneProcs(func(k string) string { return map[string]string{"GOMAXPROCS": "7"}[k] }, alone); n != 0 || runtime.GOMAXPROCS(0) != 7 {
		t.Errorf("GOMAXPROCS set: applied %d, now %d; want 0, 7", n, runtime.GOMAXPROCS(0))
	}
	none := func(string) string { return "" }
	for _, srcs := range [][]string{nil, {pipeline.Audit}, {pipeline.Procconn, pipeline.Audit}} {
		if n := tuneProcs(none, srcs); n != 0 || runtime.GOMAXPROCS(0) != 7 {
			t.Errorf("sources %v: applied %d, now %d; want the default kept", srcs, n, runtime.GOMAXPROCS(0))
		}
	}
	want := max(1, runtime.NumCPU()-1)
	if n := tuneProcs(none, alone); n != want || runtime.GOMAXPROCS(0) != want {
		t.Errorf("proc connector alone: applied %d, now %d; want %d (one CPU fewer than %d)", n, runtime.GOMAXPROCS(0), want, runtime.NumCPU())
	}
}
