package falcolang

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/test/falco/falcotest"
)

// corpus uses every operator and transformer of Falco's language that
// ruled supports, over ruled.* fields (the plugin's fields inside Falco,
// ruled's own fields inside ruled).
var corpus = []string{
	`ruled.proc.name = bash`,
	`ruled.proc.name == "bash"`,
	`ruled.proc.name != bash`,
	`ruled.proc.name = 'python3'`,
	`ruled.proc.pid < 100`,
	`ruled.proc.pid <= 100`,
	`ruled.proc.pid > 100`,
	`ruled.proc.pid >= 100`,
	`ruled.evt.res > 1`,
	`ruled.evt.res != 0`,
	`ruled.proc.name in (bash, sh, "python3")`,
	`ruled.proc.name in (shells)`,
	`ruled.proc.name in (zsh, shells)`,
	`ruled.proc.name in ()`,
	`ruled.proc.name intersects (bash, sh)`,
	`ruled.proc.anames intersects (java, node)`,
	`ruled.proc.anames in (java, containerd-shim, systemd)`,
	`ruled.proc.anames exists`,
	`ruled.proc.args intersects ("-c", "-i")`,
	`ruled.evt.keys in (exec)`,
	`ruled.proc.args[1] in ("-c")`,
	`ruled.proc.args[0] intersects (bash, sh, cat)`,
	`ruled.proc.anames[2] exists`,
	`ruled.proc.anames[0] in (java)`,
	`ruled.file.path pmatch (/etc, /var/run/)`,
	`ruled.file.path pmatch (sensitive_dirs)`,
	`ruled.file.path startswith /etc/`,
	`ruled.file.path endswith .sock`,
	`ruled.proc.cmdline contains "-c"`,
	`ruled.proc.cmdline icontains "ECHO"`,
	`ruled.file.path glob "/etc/*"`,
	`ruled.file.path glob "/etc/[ps]*"`,
	`ruled.file.path glob "*/docker.?ock"`,
	`ruled.proc.exe iglob "/USR/BIN/*"`,
	`ruled.proc.exe regex "/usr/bin/(ba|z)sh"`,
	`ruled.file.path exists`,
	`ruled.container.labels[app] exists`,
	`ruled.container.labels[app] = web`,
	`ruled.container.labels[app] != web`,
	`ruled.proc.tty = true`,
	`ruled.evt.success = false`,
	`ruled.container.privileged = true and ruled.container.id != host`,
	`tolower(ruled.proc.name) = bash`,
	`toupper(ruled.proc.name) = BASH`,
	`b64(ruled.proc.cmdline) = "id"`,
	`tolower(b64(ruled.proc.cmdline)) contains "id"`,
	`basename(ruled.proc.exe) = bash`,
	`basename(ruled.file.path) in (shadow, docker.sock)`,
	`len(ruled.proc.name) > 3`,
	`len(ruled.proc.anames) >= 2`,
	`ruled.proc.name = val(ruled.proc.pname)`,
	`ruled.proc.name != val(ruled.proc.pname)`,
	`ruled.proc.cmdline = "sh -c \"id\""`,
	`ruled.proc.cmdline = "it's"`,
	`not ruled.proc.name = bash`,
	`not ruled.proc.name = bash and ruled.proc.pid > 1`,
	`ruled.proc.name = sh or ruled.proc.name = bash and ruled.proc.pid > 100`,
	`(ruled.proc.name = sh or ruled.proc.name = bash) and not (ruled.proc.pid > 100)`,
	`ruled.evt.type = open and ruled.file.write = true`,
	`ruled.evt.syscall in (openat, openat2) and ruled.file.path startswith /etc`,
	`ruled.fd.rport in (4444, 1337) and ruled.fd.rip startswith "10."`,
	`shell_spawn`,
	`evt.num = 0`,
	`evt.num >= 0`,
}

const corpusDefs = `- list: shells
  items: [sh, bash, zsh]
- list: sensitive_dirs
  items: [/etc/ssh, "/root/.ssh"]
- macro: shell_spawn
  condition: ruled.evt.type = execve and ruled.proc.name in (shells)
`

// corpusEvents are events meant to split every condition of the corpus
// both ways.
func corpusEvents() []event.Event {
	exec := func(name, exe, cmdline string, pid int, anames []string, args []string) event.Event {
		return event.Event{
			Evt:       event.Evt{Type: "execve", Syscall: "execve", Success: true, Source: "replay", Keys: []string{"exec"}},
			Proc:      event.Proc{PID: pid, Name: name, Exe: exe, Cmdline: cmdline, Args: args, PName: "java", ANames: anames, UID: 0},
			Container: event.Container{ID: "host"},
		}
	}
	var evs []event.Event
	evs = append(evs,
		exec("bash", "/usr/bin/bash", "bash -c echo", 100, []string{"java", "containerd-shim", "systemd"}, []string{"bash", "-c", "echo"}),
		exec("sh", "/bin/sh", "sh -c \"id\"", 7, []string{"node"}, []string{"sh", "-c", "\"id\""}),
		exec("python3", "/usr/bin/python3", "aWQ=", 4000, nil, nil),
		exec("java", "/usr/lib/jvm/bin/java", "java -jar x.jar", 1, []string{"systemd"}, []string{"java", "-jar", "x.jar"}),
		exec("zsh", "/USR/BIN/zsh", "it's", 101, []string{"java"}, []string{"zsh"}),
		exec("BASH", "/usr/bin/BASH", "SH -I ECHO", 99, []string{"java", "containerd-shim"}, []string{"BASH", "-i"}),
	)
	evs[1].Proc.TTY = true
	evs[3].Proc.PName = "java"
	evs[4].Evt.Success = false
	evs[4].Evt.Res = -2
	evs[5].Container = event.Container{ID: "3f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c", Name: "web1", Image: "nginx:1", Privileged: true, Labels: map[string]string{"app": "web"}}
	evs[0].Container = event.Container{ID: "0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef", Labels: map[string]string{"app": "db"}}
	open := func(syscall, path string, write bool, res int) event.Event {
		return event.Event{
			Evt:       event.Evt{Type: "open", Syscall: syscall, Success: res >= 0, Res: res, Source: "replay", Keys: []string{"file_write", "exec"}},
			Proc:      event.Proc{PID: 300, Name: "cat", Exe: "/usr/bin/cat", Cmdline: "cat " + path, Args: []string{"cat", path}, PName: "bash", ANames: []string{"bash"}},
			File:      event.File{Path: path, Write: write},
			Container: event.Container{ID: "host"},
		}
	}
	evs = append(evs,
		open("openat", "/etc/shadow", false, 3),
		open("openat2", "/etc/passwd", true, 4),
		open("open", "/var/run/docker.sock", true, 5),
		open("creat", "/etc", true, -13),
		open("openat", "/etcetera/x", false, 3),
		open("openat", "/root/.ssh/id_rsa", false, 3),
		open("openat", "/etc/ssh", false, 3),
		open("openat", "/tmp/docker.sock", false, 3),
	)
	conn := event.Event{
		Evt:       event.Evt{Type: "connect", Syscall: "connect", Success: true, Source: "replay"},
		Proc:      event.Proc{PID: 500, Name: "nc", Exe: "/usr/bin/nc", Cmdline: "nc 10.0.0.1 4444", Args: []string{"nc", "10.0.0.1", "4444"}},
		FD:        event.FD{Type: "ipv4", L4Proto: "tcp", SIP: "172.17.0.2", SPort: 40000, RIP: "10.0.0.1", RPort: 4444},
		Container: event.Container{ID: "host"},
	}
	conn2 := conn
	conn2.FD.RIP, conn2.FD.RPort = "192.168.1.1", 1337
	evs = append(evs, conn, conn2)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for i := range evs {
		evs[i].Evt.Time = t0.Add(time.Duration(i) * time.Millisecond)
	}
	return evs
}

// rulesFile makes one rule per condition, named c000 ..., whose output
// carries %evt.num so Falco's alerts name their event.
func rulesFile(defs string, conds []string) string {
	var b strings.Builder
	b.WriteString(defs)
	for i, c := range conds {
		fmt.Fprintf(&b, "- rule: c%03d\n  desc: differential case\n  condition: %s\n  output: \"n=%%evt.num\"\n  priority: INFO\n  source: ruled\n", i, yamlQuote(c))
	}
	return b.String()
}

func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// verdicts is the set of "rule@event" a run raised.
type verdicts map[string]bool

func ruledVerdicts(t *testing.T, rules string, evs []event.Event) verdicts {
	t.Helper()
	eng, err := engine.New([]engine.File{{Name: "corpus.yaml", Data: []byte(rules)}}, engine.Options{RateLimit: engine.RateLimit{Rate: -1}})
	if err != nil {
		t.Fatalf("ruled refuses the corpus: %v", err)
	}
	if in := eng.Inactive(); len(in) > 0 {
		t.Fatalf("ruled loads %d corpus rules inactive, first: %s", len(in), in[0])
	}
	out := verdicts{}
	for i := range evs {
		for _, r := range eng.Match(&evs[i]) {
			out[fmt.Sprintf("%s@%d", r.Name, i+1)] = true
		}
	}
	return out
}

// jsonLines encodes events in the -replay format the plugin replays.
func jsonLines(t *testing.T, evs []event.Event) []byte {
	t.Helper()
	var lines bytes.Buffer
	for i := range evs {
		b, err := event.MarshalJSONLine(&evs[i])
		if err != nil {
			t.Fatal(err)
		}
		lines.Write(b)
	}
	return lines.Bytes()
}

func falcoVerdicts(t *testing.T, f *falcotest.Falco, rules string, evs []event.Event) verdicts {
	t.Helper()
	out := verdicts{}
	for _, a := range f.ReplayAlerts(t, rules, jsonLines(t, evs), "") {
		n, ok := a.EventNum()
		if !ok {
			t.Fatalf("alert without evt.num: %+v", a)
		}
		out[fmt.Sprintf("%s@%d", a.Rule, n)] = true
	}
	return out
}

// compare reports every rule@event on which the two disagree.
func compare(t *testing.T, conds []string, evs []event.Event, falco, ruled verdicts) {
	t.Helper()
	var diffs []string
	for i, c := range conds {
		for j := range evs {
			k := fmt.Sprintf("c%03d@%d", i, j+1)
			if falco[k] != ruled[k] {
				diffs = append(diffs, fmt.Sprintf("%s on event %d (%s %s %s): Falco %v, ruled %v", c, j+1, evs[j].Evt.Type, evs[j].Proc.Name, evs[j].File.Path, falco[k], ruled[k]))
			}
		}
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Error(d)
	}
	matched := 0
	for range falco {
		matched++
	}
	t.Logf("%d conditions x %d events: %d matches in Falco, %d disagreements", len(conds), len(evs), matched, len(diffs))
}

func TestDifferentialOperators(t *testing.T) {
	f := falcotest.Require(t)
	evs := corpusEvents()
	rules := rulesFile(corpusDefs, corpus)
	fv := falcoVerdicts(t, f, rules, evs)
	rv := ruledVerdicts(t, rules, evs)
	compare(t, corpus, evs, fv, rv)
	// Every condition must split the events (else it tests nothing) unless
	// it is a constant of Falco's own (evt.num, the empty list).
	for i, c := range corpus {
		n := 0
		for j := range evs {
			if fv[fmt.Sprintf("c%03d@%d", i, j+1)] {
				n++
			}
		}
		if (n == 0 || n == len(evs)) && !strings.HasPrefix(c, "evt.num") && !strings.Contains(c, "()") && !strings.Contains(c, "exists") {
			t.Errorf("%s: matches %d of %d events in Falco: the corpus events do not split it", c, n, len(evs))
		}
	}
}

// The plugin runs Falco-language rules named in its init config: the
// ruled-side match reaches Falco as ruled.rule.
func TestPluginRunsFalcoLanguageRules(t *testing.T) {
	f := falcotest.Require(t)
	dir := t.TempDir()
	ruledRules := dir + "/falco-language.yaml"
	if err := os.WriteFile(ruledRules, []byte(`- rule: Shell with a terminal
  desc: Falco's language, run by the plugin's own engine
  condition: evt.type in (execve, execveat) and proc.name in (bash, sh) and proc.tty != 0 and proc.aname[1] = java
  output: shell %proc.cmdline under %proc.pname
  priority: WARNING
`), 0o644); err != nil {
		t.Fatal(err)
	}
	evs := corpusEvents()
	evs[0].Proc.TTY = true // bash under java
	relay := `- rule: relay
  desc: ruled's own matches
  condition: ruled.rule exists
  output: "n=%evt.num rule=%ruled.rule out=%ruled.output"
  priority: INFO
  source: ruled
`
	cfg, err := json.Marshal(map[string]any{"rules": []string{ruledRules}})
	if err != nil {
		t.Fatal(err)
	}
	alerts := f.ReplayAlerts(t, relay, jsonLines(t, evs), string(cfg))
	if len(alerts) != 1 {
		t.Fatalf("want one relayed match, got %d: %+v", len(alerts), alerts)
	}
	if got := alerts[0].Output; !strings.Contains(got, "rule=Shell with a terminal out=shell bash -c echo under java") {
		t.Errorf("relayed alert: %s", got)
	}
	if n, _ := alerts[0].EventNum(); n != 1 {
		t.Errorf("relayed alert on event %d, want 1", n)
	}
}
