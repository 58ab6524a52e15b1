package engine

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// benchMix is a realistic stream: mostly benign fork/exec/open/connect/exit
// of host and container processes, about 1 in 200 an attack.
func benchMix() []*event.Event {
	rng := rand.New(rand.NewPCG(7, 7))
	var evs []*event.Event
	t0 := time.Unix(1700000000, 0)
	benignNames := []string{"ls", "cat", "grep", "nginx", "python3", "node", "git", "cc1", "make", "sed"}
	for i := range 2000 {
		name := benignNames[rng.IntN(len(benignNames))]
		cid := "host"
		if i%3 == 0 {
			cid = "3f1c0000000000000000000000000000000000000000000000000000000000aa"
		}
		base := event.Event{
			Evt:       event.Evt{Time: t0, Source: event.SourceAudit, Success: true},
			Proc:      event.Proc{PID: 1000 + i, PPID: 999, Name: name, Exe: "/usr/bin/" + name, Cmdline: name + " -x", PName: "bash", ANames: []string{"bash", "sshd", "systemd"}, UID: 1000, EUID: 1000},
			Container: event.Container{ID: cid},
		}
		ev := base
		switch x := rng.IntN(100); {
		case x < 30:
			ev.Evt.Type = event.TypeExecve
		case x < 50:
			ev.Evt.Type = event.TypeFork
		case x < 65:
			ev.Evt.Type = event.TypeExit
		case x < 85:
			ev.Evt.Type = event.TypeOpen
			ev.File = event.File{Path: "/usr/lib/x86_64-linux-gnu/libc.so.6"}
		default:
			ev.Evt.Type = event.TypeConnect
			ev.FD = event.FD{Type: "ipv4", L4Proto: "tcp", SIP: "10.0.0.2", SPort: 40000 + i, RIP: "10.0.0.3", RPort: 443}
		}
		if i%200 == 0 {
			ev = *execEvent("sh", "java", cid)
		}
		evs = append(evs, &ev)
	}
	return evs
}

func BenchmarkEvalMix(b *testing.B) {
	e := mustNew(b, Options{RateLimit: RateLimit{Rate: -1}}, packFiles(b)...)
	evs := benchMix()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Eval(evs[i%len(evs)])
		i++
	}
	perEvent := float64(b.Elapsed().Nanoseconds()) / float64(i)
	b.ReportMetric(perEvent, "ns/event")
	b.ReportMetric(1e9/perEvent, "events/s")
}

// BenchmarkEvalAllRules uses an event type no rule is indexed under, with
// every unconstrained rule run, plus execve which most rules require.
func BenchmarkEvalExecNoMatch(b *testing.B) {
	e := mustNew(b, Options{RateLimit: RateLimit{Rate: -1}}, packFiles(b)...)
	ev := execEvent("ls", "bash", "3f1c")
	b.ReportAllocs()
	for b.Loop() {
		e.Eval(ev)
	}
}

// BenchmarkEvalAllRules evaluates every enabled rule's full program on one
// event (the index bypassed): the worst case per event.
func BenchmarkEvalAllRules(b *testing.B) {
	e := mustNew(b, Options{RateLimit: RateLimit{Rate: -1}}, packFiles(b)...)
	st := newEvalState()
	env := boxEvent(execEvent("ls", "bash", "3f1c"))
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range e.rules {
			if _, err := st.vm.Run(r.full, env); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(e.rules)), "rules")
}

func BenchmarkEvalMatch(b *testing.B) {
	e := mustNew(b, Options{RateLimit: RateLimit{Rate: -1}}, packFiles(b)...)
	ev := execEvent("sh", "java", "3f1c")
	b.ReportAllocs()
	for b.Loop() {
		e.Eval(ev)
	}
}
