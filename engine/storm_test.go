package engine

import (
	"testing"
	"time"

	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/event"
)

// stormRule is the load harness's exec rule (test/load): every exec of its
// target raises an alert.
const stormRule = `
- rule: ruled-load exec
  desc: An exec of the load harness's target.
  condition: evt.type == "execve" and proc.exe == "/usr/bin/true"
  output: load exec (exe=%proc.exe container=%container.id)
  priority: NOTICE
`

// stormEvents are what the agent evaluates for one exec of the load
// harness's exec storm with -stdio dup (a Go spawner's fork+exec of
// /bin/true with its stdio on /dev/null): the fork, three dup3 onto 0-2
// before the exec, the exec, the exit. (The default storm's children
// inherit their stdio: no dup3.)
func stormEvents(pid int) []*event.Event {
	t0 := time.Unix(1700000000, 0)
	parent := event.Proc{PID: pid, PPID: 500, Name: "load", Exe: "/work/bin/load", Args: []string{"load", "spawn"}, Cmdline: "load spawn",
		PName: "load", PExe: "/work/bin/load", ANames: []string{"load", "bash", "sshd", "systemd"}, UID: 0, EUID: 0, Cwd: "/work"}
	base := func(typ string) *event.Event {
		return &event.Event{Evt: event.Evt{Type: typ, Time: t0, Source: event.SourceAudit, Success: true}, Proc: parent,
			Container: event.Container{ID: event.HostID}}
	}
	fork := base(event.TypeFork)
	fork.Evt.Source = event.SourceProcconn
	evs := []*event.Event{fork}
	for fd := range 3 {
		d := base(event.TypeDup)
		d.Evt.Syscall = "dup3"
		d.Arg.FD = fd
		d.FD = event.FD{Type: event.FDFile, Name: "/dev/null"}
		evs = append(evs, d)
	}
	ex := base(event.TypeExecve)
	ex.Evt.Syscall = "execve"
	ex.Proc.Name, ex.Proc.Exe, ex.Proc.Args, ex.Proc.Cmdline = "true", "/usr/bin/true", []string{"/bin/true", "ruled-load"}, "/bin/true ruled-load"
	// The harness's environment, which its children inherit (the
	// GLIBC_TUNABLES rule reads it).
	ex.Proc.Env = []string{"SHELL=/bin/bash", "PWD=/work/wt/engine", "LOGNAME=root", "HOME=/root", "LANG=C.UTF-8",
		"TERM=xterm", "USER=root", "SHLVL=1", "PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"OLDPWD=/work", "_=/work/bin/load"}
	ex.Proc.Stdin = event.Stdio{Type: event.StdioFile, Name: "/dev/null"}
	ex.Proc.Stdout, ex.Proc.Stderr = ex.Proc.Stdin, ex.Proc.Stdin
	exit := *ex
	exit.Evt.Type, exit.Evt.Source, exit.Evt.Syscall = event.TypeExit, event.SourceProcconn, ""
	return append(evs, ex, &exit)
}

// BenchmarkPackEvalExecStorm is the engine's share of one exec of the load
// harness's storm (default pack plus its alerting rule): six events, one
// alert.
func BenchmarkPackEvalExecStorm(b *testing.B) {
	files, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		b.Fatal(err)
	}
	files = append(files, File{Name: "load.yaml", Data: []byte(stormRule)})
	e := mustNew(b, Options{RateLimit: RateLimit{Rate: -1}}, files...)
	evs := stormEvents(4242)
	b.ReportAllocs()
	alerts := 0
	for b.Loop() {
		for _, ev := range evs {
			alerts += len(e.Eval(ev))
		}
	}
	if alerts != b.N {
		b.Fatalf("%d alerts for %d execs", alerts, b.N)
	}
}
