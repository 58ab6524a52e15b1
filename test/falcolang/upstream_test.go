package falcolang

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ruled/ruled/engine/falcolang"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/test/falco/falcotest"
)

// upstreamFiles are Falco's rule files, read from the shared folder (the
// repository carries no copy).
var upstreamFiles = []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"}

// sameField maps Falco fields of the upstream files to the ruled.* field
// the differential check puts in their place. The check is about the
// language (operators, lists, macros, precedence on the upstream files'
// real conditions), so each ruled.* field only needs the same type.
var sameField = map[string]string{
	"proc.name": "ruled.proc.name", "proc.pname": "ruled.proc.pname", "proc.exepath": "ruled.proc.exe",
	"proc.pexepath": "ruled.proc.pexe", "proc.cmdline": "ruled.proc.cmdline", "proc.pcmdline": "ruled.proc.pcmdline",
	"proc.args": "ruled.proc.cmdline", "proc.cwd": "ruled.proc.cwd", "container.id": "ruled.container.id",
	"container.image.repository": "ruled.container.image", "container.image": "ruled.container.image",
	"container.privileged": "ruled.container.privileged", "k8s.ns.name": "ruled.k8s.ns.name",
	"k8s.pod.name": "ruled.k8s.pod.name", "fd.name": "ruled.file.path", "fd.directory": "ruled.proc.cwd",
	"evt.type": "ruled.evt.syscall", "user.name": "ruled.proc.user", "user.uid": "ruled.proc.euid",
	"fd.sport": "ruled.fd.sport", "fd.lport": "ruled.fd.sport", "fd.rport": "ruled.fd.rport",
	"evt.num": "evt.num",
}

type upstream struct {
	lists      map[string][]string
	listOrder  []string
	macros     map[string]string
	macroOrder []string
	rules      []struct{ name, cond string }
}

func readUpstream(t *testing.T, f *falcotest.Falco) *upstream {
	t.Helper()
	u := &upstream{lists: map[string][]string{}, macros: map[string]string{}}
	for _, name := range upstreamFiles {
		b, err := os.ReadFile(f.Path("../shared/falco-rules/" + name))
		if err != nil {
			t.Fatalf("upstream rules: %v", err)
		}
		var items []map[string]any
		if err := yaml.Unmarshal(b, &items); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, it := range items {
			switch {
			case it["list"] != nil:
				n := it["list"].(string)
				if _, ok := u.lists[n]; !ok {
					u.listOrder = append(u.listOrder, n)
				}
				var vals []string
				for _, v := range it["items"].([]any) {
					vals = append(vals, fmt.Sprint(v))
				}
				u.lists[n] = vals
			case it["macro"] != nil:
				n := it["macro"].(string)
				if _, ok := u.macros[n]; !ok {
					u.macroOrder = append(u.macroOrder, n)
				}
				u.macros[n] = it["condition"].(string)
			case it["rule"] != nil:
				if c, ok := it["condition"].(string); ok {
					u.rules = append(u.rules, struct{ name, cond string }{it["rule"].(string), c})
				}
			}
		}
	}
	return u
}

// translate rewrites cond over ruled.* fields; ok is false when it uses a
// field sameField lacks, an index, a transformer or a macro not in good.
func translate(cond string, good map[string]bool) (string, bool) {
	n, err := falcolang.Parse(cond)
	if err != nil {
		return "", false
	}
	ok := true
	var walk func(falcolang.Node)
	field := func(f *falcolang.FieldRef) {
		to, found := sameField[f.Name]
		if !found || f.HasArg || len(f.Transformers) > 0 {
			ok = false
			return
		}
		f.Name = to
	}
	walk = func(n falcolang.Node) {
		switch x := n.(type) {
		case *falcolang.BinaryExpr:
			walk(x.L)
			walk(x.R)
		case *falcolang.NotExpr:
			walk(x.X)
		case *falcolang.Ident:
			if !good[x.Name] {
				ok = false
			}
		case *falcolang.Check:
			field(x.Field)
			if x.ValField != nil {
				field(x.ValField)
			}
		}
	}
	walk(n)
	if !ok {
		return "", false
	}
	return falcolang.Format(n), true
}

// harvest collects, per ruled.* field, the values a condition compares it
// with (list names expanded, macros of translated followed), to build
// events that split the conditions.
func harvest(cond string, u *upstream, translated map[string]string, into map[string][]string) {
	harvestSeen(cond, u, translated, into, map[string]bool{})
}

func harvestSeen(cond string, u *upstream, translated map[string]string, into map[string][]string, seen map[string]bool) {
	n, err := falcolang.Parse(cond)
	if err != nil {
		return
	}
	var walk func(falcolang.Node)
	walk = func(n falcolang.Node) {
		switch x := n.(type) {
		case *falcolang.BinaryExpr:
			walk(x.L)
			walk(x.R)
		case *falcolang.NotExpr:
			walk(x.X)
		case *falcolang.Ident:
			if m, ok := translated[x.Name]; ok && !seen[x.Name] {
				seen[x.Name] = true
				harvestSeen(m, u, translated, into, seen)
			}
		case *falcolang.Check:
			for _, v := range x.Values {
				if items, ok := u.lists[v.Text]; ok && !v.Quoted {
					for _, it := range items {
						into[x.Field.Name] = append(into[x.Field.Name], falcolang.Unquote(it))
					}
					continue
				}
				into[x.Field.Name] = append(into[x.Field.Name], v.Text)
			}
		}
	}
	walk(n)
}

// upstreamEvents builds events whose fields take the harvested values,
// as is and with a suffix and a prefix (so startswith, endswith and pmatch
// see both outcomes), rotating through each pool at a different stride.
func upstreamEvents(pools map[string][]string, n, base int) []event.Event {
	variant := func(pool []string, i, stride int) string {
		if len(pool) == 0 {
			return ""
		}
		v := pool[(i*stride)%len(pool)]
		switch i % 5 {
		case 3:
			return v + "/x"
		case 4:
			return "/x" + v
		}
		return v
	}
	num := func(pool []string, i int) int {
		v, err := strconv.Atoi(variant(pool, i, 3))
		if err != nil {
			return i % 7
		}
		return v
	}
	syscalls := []string{"execve", "openat", "open", "openat2", "connect", "accept4", "rename", "unlinkat", "chmod", "mkdir"}
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	evs := make([]event.Event, n)
	for i := range evs {
		sc := syscalls[i%len(syscalls)]
		if p := pools["ruled.evt.syscall"]; len(p) > 0 && i%2 == 1 {
			sc = p[(i/2)%len(p)]
		}
		cid := "host"
		if i%3 != 0 {
			cid = fmt.Sprintf("%064x", i)
		}
		if p := pools["ruled.container.id"]; len(p) > 0 && i%4 == 1 {
			cid = p[(i/4)%len(p)]
		}
		evs[i] = event.Event{
			Evt: event.Evt{Type: falcolang.FalcoType(sc), Syscall: sc, Time: t0.Add(time.Duration(base+i) * time.Millisecond), Success: i%9 != 8, Source: "replay"},
			Proc: event.Proc{PID: 1000 + base + i, Name: variant(pools["ruled.proc.name"], i, 1), PName: variant(pools["ruled.proc.pname"], i, 7),
				Exe: variant(pools["ruled.proc.exe"], i, 3), PExe: variant(pools["ruled.proc.pexe"], i, 5),
				Cmdline: variant(pools["ruled.proc.cmdline"], i, 11), PCmdline: variant(pools["ruled.proc.pcmdline"], i, 13),
				Cwd: variant(pools["ruled.proc.cwd"], i, 17), User: variant(pools["ruled.proc.user"], i, 19), EUID: num(pools["ruled.proc.euid"], i)},
			Container: event.Container{ID: cid, Image: variant(pools["ruled.container.image"], i, 23), Privileged: i%7 == 2},
			K8s:       event.K8s{Pod: event.K8sPod{Name: variant(pools["ruled.k8s.pod.name"], i, 29)}, NS: event.K8sName{Name: variant(pools["ruled.k8s.ns.name"], i, 31)}},
			File:      event.File{Path: variant(pools["ruled.file.path"], i, 37)},
			FD:        event.FD{SPort: num(pools["ruled.fd.sport"], i), RPort: num(pools["ruled.fd.rport"], i+1)},
		}
	}
	return evs
}

// The upstream files' macros and rules that can be written over ruled.*
// fields agree in the real Falco and in ruled.
func TestDifferentialUpstream(t *testing.T) {
	f := falcotest.Require(t)
	u := readUpstream(t, f)
	good := map[string]bool{}
	translated := map[string]string{}
	for changed := true; changed; {
		changed = false
		for _, m := range u.macroOrder {
			if good[m] {
				continue
			}
			if s, ok := translate(u.macros[m], good); ok {
				good[m], translated[m], changed = true, s, true
			}
		}
	}
	var defs strings.Builder
	for _, l := range u.listOrder {
		b, _ := yaml.Marshal([]map[string]any{{"list": l, "items": u.lists[l]}})
		defs.Write(b)
	}
	var conds, labels []string
	pools := map[string][]string{}
	for _, m := range u.macroOrder {
		if good[m] {
			b, _ := yaml.Marshal([]map[string]any{{"macro": m, "condition": translated[m]}})
			defs.Write(b)
			conds = append(conds, m)
			labels = append(labels, "macro "+m)
		}
	}
	for _, r := range u.rules {
		if s, ok := translate(r.cond, good); ok {
			conds = append(conds, s)
			labels = append(labels, "rule "+r.name)
		}
	}
	if len(conds) < 40 {
		t.Fatalf("only %d upstream conditions translate to ruled.* fields", len(conds))
	}
	// Events aimed at each condition (its own values first, then
	// variants), then events mixing the values of all of them.
	var evs []event.Event
	for _, c := range conds {
		own := map[string][]string{}
		harvest(c, u, translated, own)
		harvest(c, u, translated, pools)
		evs = append(evs, upstreamEvents(own, 5, len(evs))...)
	}
	for k := range pools {
		sort.Strings(pools[k])
	}
	evs = append(evs, upstreamEvents(pools, 400, len(evs))...)
	rules := rulesFile(defs.String(), conds)
	fv := falcoVerdicts(t, f, rules, evs)
	rv := ruledVerdicts(t, rules, evs)
	compare(t, labels, evs, fv, rv)
	split := 0
	for i := range conds {
		n := 0
		for j := range evs {
			if fv[fmt.Sprintf("c%03d@%d", i, j+1)] {
				n++
			}
		}
		if n > 0 && n < len(evs) {
			split++
		}
	}
	t.Logf("%d upstream conditions (of %d macros and %d rules), %d split the %d events", len(conds), len(u.macroOrder), len(u.rules), split, len(evs))
}
