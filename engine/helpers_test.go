package engine

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

func packFiles(t testing.TB) []File {
	t.Helper()
	names, err := filepath.Glob("testdata/pack/*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixture pack: %v", err)
	}
	var files []File
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Name: n, Data: b})
	}
	return files
}

func mustNew(t testing.TB, opts Options, files ...File) *Engine {
	t.Helper()
	e, err := New(files, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func yamlFile(name, s string) File { return File{Name: name, Data: []byte(s)} }

func names(rs []*Rule) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func alertNames(as []event.Alert) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.Rule)
	}
	return out
}

func execEvent(name, pname, cid string) *event.Event {
	return &event.Event{
		Evt:       event.Evt{Type: event.TypeExecve, Success: true, Source: event.SourceAudit, Time: time.Unix(1700000000, 0)},
		Proc:      event.Proc{PID: 100, PPID: 99, Name: name, PName: pname, Exe: "/bin/" + name, Cmdline: name + " -c id"},
		Container: event.Container{ID: cid, Name: "web"},
	}
}

// randomEvent draws from values the fixture rules test, so matches happen.
func randomEvent(r *rand.Rand) *event.Event {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	types := append([]string{"weird"}, event.Types...)
	ev := &event.Event{
		Evt: event.Evt{Type: types[r.IntN(len(types))], Success: r.IntN(4) > 0, Res: []int{0, -13, 139}[r.IntN(3)],
			Keys: [][]string{nil, {"ruled-watch"}, {"other"}}[r.IntN(3)]},
		Proc: event.Proc{PID: r.IntN(5000), PPID: r.IntN(3), Name: pick("sh", "bash", "java", "nsenter", "curl", "apt", "xmrig", "sshd", "gdb", "runc", "sudo", "unix_chkpwd", "nc", "socat", "docker", "mount", "debugfs", "wget", "crontab", "ls"),
			PName: pick("", "java", "curl", "bash", "containerd-shim"), Exe: pick("/bin/sh", "/tmp/x", "/usr/bin/java", "/dev/shm/y"),
			Cmdline: pick("sh -c id", "x --url stratum+tcp://p", "java -jar app.jar"), UID: r.IntN(2) * 1000, EUID: r.IntN(2) * 1000,
			TTY: r.IntN(2) == 0, ExeUpperLayer: r.IntN(5) == 0, ANames: [][]string{nil, {"cron", "init"}, {"bash"}}[r.IntN(3)],
			Stdin: event.Stdio{Type: pick("", "socket", "pipe", "tty"), L4Proto: pick("", "tcp", "udp")}},
		Container: event.Container{ID: pick("host", "", "3f1c00aa"), Name: "c", Image: pick("debian:12", "alpine"), Privileged: r.IntN(4) == 0,
			Labels: [](map[string]string){nil, {"trust": "none"}, {"trust": "full"}}[r.IntN(3)]},
		K8s:  event.K8s{Pod: event.K8sPod{Name: pick("", "web-1")}},
		FD:   event.FD{Type: pick("", "ipv4", "ipv6", "unix"), RPort: []int{0, 80, 4444, 31337}[r.IntN(4)], SPort: r.IntN(2000), RIP: pick("127.0.0.1", "10.0.0.2")},
		File: event.File{Path: pick("", "/etc/shadow", "/etc/passwd", "/bin/ls", "/root/.bash_history", "/tmp/a", "/var/run/docker.sock", "/proc/1/mem"), Target: pick("", "/tmp/.x"), Write: r.IntN(2) == 0},
	}
	return ev
}

// evalAll evaluates every enabled rule, ignoring the index.
func evalAll(e *Engine, ev *event.Event) []string {
	st := newEvalState()
	env := boxEvent(ev)
	out := []string{}
	for _, r := range e.rules {
		v, err := st.vm.Run(r.full, env)
		if err == nil && v.(bool) {
			out = append(out, r.Name)
		}
	}
	return out
}

func sorted(xs []string) []string {
	ys := append([]string(nil), xs...)
	sort.Strings(ys)
	return ys
}
