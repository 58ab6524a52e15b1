package engine

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func FuzzLoad(f *testing.F) {
	names, _ := filepath.Glob("testdata/pack/*.yaml")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(shipped))
	f.Add([]byte("- rule: R\n  condition: proc.name in l\n  output: '%proc.name %%'\n  priority: info\n  exceptions: [{name: x, fields: proc.pid, comps: '<', values: [1]}]\n- list: l\n  items: [l]\n"))
	f.Add([]byte("- macro: m\n  condition: m\n- rule: R\n  condition: and\n  override: {condition: append}\n"))
	// Exponential growth through macros and nested lists (once slow).
	f.Add([]byte("- macro: a\n  condition: proc.tty\n- macro: b\n  condition: a and a\n- macro: c\n  condition: b and b\n- list: x\n  items: [q, q]\n- list: y\n  items: [x, x]\n"))
	// Falco's language: lists in lists, exceptions, a missing field, a
	// redefinition, another source.
	f.Add([]byte(falcoDefs + "- rule: F\n  desc: d\n  condition: spawned_process and proc.name in (more_shells) and not proc.pname pmatch (/x) and fd.rnet in (nets)\n" +
		"  output: '%proc.aname[2] %evt.arg.flags'\n  priority: INFO\n  exceptions: [{name: e, fields: [proc.name, fd.name], comps: [in, pmatch], values: [[shells, [/etc]]]}]\n" +
		"- rule: G\n  desc: d\n  condition: fd.sip.name contains X\n  output: o\n  priority: INFO\n- rule: F\n  desc: d\n  condition: evt.num = 0\n  output: o\n  priority: INFO\n" +
		"- rule: K\n  desc: d\n  condition: ka.verb = x\n  output: o\n  priority: INFO\n  source: k8s_audit\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		e, err := New([]File{{Name: "f.yaml", Data: data}}, Options{})
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("New took %v", d)
		}
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error %T %v is not a *LoadError with problems", err, err)
			}
			return
		}
		for _, r := range e.Rules() {
			r.Render(execEvent("sh", "", ""))
		}
		e.Eval(execEvent("sh", "java", "c"))
	})
}
