package engine

import (
	"testing"

	"github.com/ruled/ruled/rules"
)

// needs is one expectation: whether group is needed for k.
type needs struct {
	group ReadGroup
	k     Known
	want  bool
}

func checkNeeds(t *testing.T, g *Guide, cases []needs) {
	t.Helper()
	for _, c := range cases {
		k := c.k
		if got := g.Needs(c.group, k); got != c.want {
			t.Errorf("group %d for %+v: %v, want %v", c.group, c.k, got, c.want)
		}
	}
}

// TestGuideDerivation: a group is left out only where no rule reading it
// (condition, exception or output) can match; terms the table cannot
// decide at exec (evt.type, other fields, functions) count as unknown, and
// NOT of unknown stays unknown.
func TestGuideDerivation(t *testing.T) {
	e := mustNew(t, Options{}, yamlFile("a.yaml", `
- list: shells
  items: [sh, bash]
- macro: spawned
  condition: evt.type == "execve" and evt.success
- macro: container
  condition: container.id != "host" and container.id != ""
- rule: shell stdin
  desc: d
  condition: spawned and proc.name in shells and proc.stdin.type == "socket"
  output: x
  priority: WARNING
- rule: container stdout, not nginx
  desc: d
  condition: proc.stdout.type == "socket" and container and not (proc.name startsWith "nginx")
  output: x
  priority: WARNING
  exceptions:
    - name: by_exe
      fields: [proc.exe]
      values: [[/usr/bin/ok]]
- rule: env in output only
  desc: d
  condition: evt.type == "connect" and proc.exe == "/usr/bin/curl"
  output: "%proc.env"
  priority: WARNING
- rule: caps, or with an undecidable side
  desc: d
  condition: (proc.name == "runc" or proc.pid == 1) and proc.cap_effective != nil
  output: x
  priority: WARNING
- rule: dup fd
  desc: d
  condition: evt.type == "dup" and not (proc.name == "sshd" and fd.type == "file")
  output: "%fd.name"
  priority: WARNING
`))
	g := e.Guide()
	host, ctr := "host", "0123456789ab"
	checkNeeds(t, g, []needs{
		{GroupStdio, Known{Name: "true", ContainerID: host}, false},
		{GroupStdio, Known{Name: "bash", ContainerID: host}, true},
		{GroupStdio, Known{Name: "true", ContainerID: ctr}, true},
		{GroupStdio, Known{Name: "nginx-worker", ContainerID: ctr}, false},
		{GroupStdio, Known{Name: "true"}, true}, // container unknown
		{GroupStdio, Known{ContainerID: host}, true},
		// The exception (not proc.exe in ...) is decidable too.
		{GroupStdio, Known{Name: "true", Exe: "/usr/bin/ok", ContainerID: ctr}, false},
		{GroupStdio, Known{Name: "true", Exe: "/usr/bin/other", ContainerID: ctr}, true},
		{GroupEnv, Known{Name: "curl", Exe: "/usr/bin/wget", ContainerID: host}, false},
		{GroupEnv, Known{Name: "curl", Exe: "/usr/bin/curl", ContainerID: host}, true},
		{GroupEnv, Known{Name: "curl", ContainerID: host}, true}, // exe unknown
		// evt.type is undecidable at exec: a connect later reads env.
		{GroupEnv, Known{Name: "curl", Exe: "/usr/bin/curl", Type: ""}, true},
		{GroupCaps, Known{Name: "true"}, true}, // proc.pid == 1 undecidable
		// NOT over an AND with an undecidable side stays unknown.
		{GroupDupFD, Known{Name: "sshd", Type: "dup"}, true},
		{GroupDupFD, Known{Name: "true", Type: "dup"}, true},
		{GroupDupFD, Known{Name: "true", Type: "execve"}, false},
		{GroupDupFD, Known{Name: "true"}, true},
	})
	var nilGuide *Guide
	if !nilGuide.Needs(GroupStdio, Known{Name: "true"}) {
		t.Error("a nil guide leaves a group out")
	}
}

// TestGuideUnrestricted: a rule reading a group with nothing decidable in
// its condition makes the group always read; a rule set reading nothing of
// a group never reads it.
func TestGuideUnrestricted(t *testing.T) {
	e := mustNew(t, Options{}, yamlFile("a.yaml", `
- rule: any env
  desc: d
  condition: 'evt.type == "execve" and any(proc.env, # startsWith "X=") and not (proc.name == "sh")'
  output: x
  priority: WARNING
- rule: whole proc
  desc: d
  condition: 'proc.name == "bash" or proc.pid == 2'
  output: x
  priority: WARNING
`))
	g := e.Guide()
	checkNeeds(t, g, []needs{
		{GroupEnv, Known{Name: "sh", ContainerID: "host"}, false},
		{GroupEnv, Known{Name: "true", ContainerID: "host"}, true},
		{GroupStdio, Known{Name: "bash"}, false},
		{GroupCaps, Known{Name: "bash"}, false},
	})
	whole := mustNew(t, Options{}, yamlFile("w.yaml", `
- rule: w
  desc: d
  condition: proc.stdin == proc.stdout and container.id == "host"
  output: x
  priority: WARNING
`))
	checkNeeds(t, whole.Guide(), []needs{
		{GroupStdio, Known{Name: "x", ContainerID: "host"}, true},
		{GroupStdio, Known{Name: "x", ContainerID: "abc"}, false},
	})
}

// TestGuideFalco: Falco-language rules, with their exceptions and output
// fields, compile to the same trees.
func TestGuideFalco(t *testing.T) {
	e := mustNew(t, Options{}, yamlFile("f.yaml", `# ruled: language=falco
- list: shell_binaries
  items: [bash, sh]
- rule: falco caps
  desc: d
  condition: evt.type = execve and proc.name in (shell_binaries) and proc.pid > 0
  output: "caps %thread.cap_effective"
  priority: WARNING
- rule: falco env
  desc: d
  condition: spawned_process_x and container.id != host
  output: "env %proc.env"
  priority: WARNING
- macro: spawned_process_x
  condition: evt.type = execve
`))
	checkNeeds(t, e.Guide(), []needs{
		{GroupCaps, Known{Name: "true", ContainerID: "host"}, false},
		{GroupCaps, Known{Name: "bash", ContainerID: "host"}, true},
		{GroupStdio, Known{Name: "bash", ContainerID: "host"}, false}, // nothing reads it
		{GroupEnv, Known{Name: "true", ContainerID: "host"}, false},
		{GroupEnv, Known{Name: "true", ContainerID: "abc"}, true},
	})
}

// TestGuideDefaultPack: the default pack's reverse-shell, redirect-stdio
// and GLIBC_TUNABLES rules still get their groups; a host /bin/true
// needs none.
func TestGuideDefaultPack(t *testing.T) {
	files, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		t.Fatal(err)
	}
	g := mustNew(t, Options{}, files...).Guide()
	checkNeeds(t, g, []needs{
		{GroupStdio, Known{Name: "bash", Exe: "/usr/bin/bash", ContainerID: "host"}, true},
		{GroupStdio, Known{Name: "python3", ContainerID: "host"}, true},
		{GroupStdio, Known{Name: "sh", ContainerID: "0123456789ab"}, true},
		{GroupStdio, Known{Name: "curl", ContainerID: "0123456789ab"}, true},
		{GroupStdio, Known{Name: "true", ContainerID: "host"}, false},
		{GroupStdio, Known{Name: "true"}, true},
		{GroupDupFD, Known{Name: "true", ContainerID: "host", Type: "dup"}, false},
		// The dup of a shell needs its descriptor through GroupStdio: no
		// default rule reads fd.* of a dup itself.
		{GroupDupFD, Known{Name: "perl", ContainerID: "host", Type: "dup"}, false},
		{GroupStdio, Known{Name: "perl", ContainerID: "host"}, true},
	})
	// The GLIBC_TUNABLES rule restricts nothing the table decides: the
	// environment is read for every exec.
	checkNeeds(t, g, []needs{{GroupEnv, Known{Name: "true", ContainerID: "host"}, true}})
}

// BenchmarkGuideExec: the three decisions of one exec of a host
// /bin/true under the default pack (compare with the reads they save).
func BenchmarkGuideExec(b *testing.B) {
	files, err := ReadPaths([]string{Builtin}, rules.Pack)
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(files, Options{})
	if err != nil {
		b.Fatal(err)
	}
	g := e.Guide()
	k := Known{Name: "true", ContainerID: "host"}
	for b.Loop() {
		g.Needs(GroupStdio, k)
		g.Needs(GroupEnv, k)
		g.Needs(GroupCaps, k)
	}
}
