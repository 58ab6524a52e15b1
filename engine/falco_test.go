package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

const falcoDefs = `# ruled: language=falco
- list: shells
  items: [sh, bash]
- list: more_shells
  items: [shells, zsh]
- list: nets
  items: ['"10.0.0.0/8"', "192.168.0.0/16"]
- macro: spawned_process
  condition: evt.type in (execve, execveat) and evt.dir = <
`

// Each operator and transformer of Falco's filter language, with the
// meaning libsinsp's filter checks give it.
func TestFalcoOperators(t *testing.T) {
	eng := mustNew(t, Options{}, yamlFile("defs.yaml", falcoDefs))
	exec := event.Event{
		Evt:       event.Evt{Type: "execve", Syscall: "execve", Success: true},
		Proc:      event.Proc{PID: 42, Name: "bash", Exe: "/usr/bin/bash", Args: []string{"/bin/bash", "-c", "echo aGVsbG8="}, Cmdline: "/bin/bash -c echo aGVsbG8=", PName: "java", PExe: "/usr/bin/java", PCmdline: "java -jar app.jar", ANames: []string{"java", "containerd-shim", "systemd"}, User: "root", EUID: 0, AUID: 4294967295, TTY: true},
		Container: event.Container{ID: "3f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c", Image: "registry:5000/team/app:1.2", Labels: map[string]string{"app": "web"}},
	}
	orphan := exec
	orphan.Proc.PName, orphan.Proc.PExe, orphan.Proc.PCmdline, orphan.Proc.ANames = "", "", "", nil
	open := event.Event{
		Evt:  event.Evt{Type: "open", Syscall: "openat", Success: true, Res: 3},
		Proc: event.Proc{Name: "cat", Args: []string{"cat", "/etc/shadow"}},
		File: event.File{Path: "/etc/shadow"},
	}
	creat := open
	creat.Evt.Syscall = "creat"
	creat.File = event.File{Path: "/var/run/docker.sock", Write: true}
	timed := exec
	timed.Evt.Time = time.Date(2026, 12, 4, 10, 0, 0, 1, time.UTC)
	shm := exec
	shm.Proc.Cwd = "/dev/shm"
	shmx := exec
	shmx.Proc.Cwd = "/dev/shmx"
	conn := event.Event{
		Evt: event.Evt{Type: "connect", Syscall: "connect", Success: true},
		FD:  event.FD{Type: "ipv4", L4Proto: "tcp", SIP: "172.17.0.2", SPort: 40000, RIP: "10.1.2.3", RPort: 4444, Name: "172.17.0.2:40000->10.1.2.3:4444"},
	}
	mapped := conn
	mapped.FD.RIP = "::ffff:10.1.2.3"
	v6 := conn
	failedConn := conn
	failedConn.Evt.Success, failedConn.Evt.Res = false, -111
	connected := conn
	connected.FD.Connected = true
	session := exec
	session.Proc.SName, session.Proc.LoginShellID, session.Proc.Duration = "sshd", 77, 3e9
	session.Proc.PGID, session.Proc.VPGID, session.Proc.VPID = 9042, 7, 7
	session.Proc.ExeIno, session.Proc.ExeWritable = 4242, true
	session.Proc.ExeInoCtime, session.Proc.ExeInoMtime = time.Unix(0, 1700000000000000005), time.Unix(0, 1600000000000000007)
	session.Proc.LoginName, session.Proc.HomeDir, session.Proc.Shell, session.Proc.Group = "alice", "/home/alice", "/bin/zsh", "wheel"
	v6.FD.Type, v6.FD.SIP, v6.FD.RIP = "ipv6", "fd00::2", "fd00::1"
	cases := []struct {
		cond string
		ev   event.Event
		want bool
	}{
		{`proc.name = bash`, exec, true},
		{`proc.name == "bash"`, exec, true},
		{`proc.name != bash`, exec, false},
		{`proc.name = 'sh'`, exec, false},
		{`proc.pid < 43 and proc.pid <= 42 and proc.pid > 41 and proc.pid >= 42`, exec, true},
		{`proc.name in (sh, bash)`, exec, true},
		{`proc.name in (shells)`, exec, true},
		{`proc.name in (zsh, (ksh, bash))`, exec, true},
		{`proc.name in (more_shells)`, exec, true},
		{`proc.name in ("shells")`, exec, false}, // a quoted word is a value, not a list
		{`proc.name in ()`, exec, false},
		{`proc.name intersects (bash)`, exec, true},
		{`ruled.proc.anames intersects (java, python)`, exec, true},
		{`ruled.proc.anames in (java, containerd-shim, systemd, init)`, exec, true},
		{`ruled.proc.anames in (java)`, exec, false},
		{`ruled.proc.args[1] in ("-c")`, exec, true},
		{`ruled.proc.anames[1] intersects (containerd-shim)`, exec, true},
		{`ruled.proc.anames[3] exists`, exec, false},
		{`proc.exepath startswith /usr/`, exec, true},
		{`proc.exepath endswith /bash`, exec, true},
		{`proc.cmdline contains "echo"`, exec, true},
		{`proc.cmdline icontains "ECHO"`, exec, true},
		{`proc.cmdline contains "ECHO"`, exec, false},
		{`proc.exepath glob "/usr/*/bash"`, exec, true},
		{`proc.exepath glob "/usr/bin/b?sh"`, exec, true},
		{`proc.exepath glob "/usr/bin/[a-c]ash"`, exec, true},
		{`proc.exepath glob "/usr/bin/[!b]ash"`, exec, false},
		{`proc.exepath glob "*sh"`, exec, true},
		{`proc.exepath iglob "/USR/*"`, exec, true},
		{`proc.exepath regex "/usr/bin/(ba|z)sh"`, exec, true},
		{`proc.exepath regex "bash"`, exec, false}, // anchored on both ends
		{`fd.name pmatch (/etc)`, open, true},
		{`fd.name pmatch (/et)`, open, false},
		{`fd.name pmatch (/var/run, /etc/)`, open, true},
		{`fd.name exists`, open, true},
		{`fd.name exists`, exec, false},
		// Falco's field meanings.
		{`proc.exe = /bin/bash`, exec, true},
		{`proc.cmdline = "bash -c echo aGVsbG8="`, exec, true},
		{`proc.args = "-c echo aGVsbG8="`, exec, true},
		{`proc.tty != 0`, exec, true},
		{`user.loginuid = -1`, exec, true},
		{`user.name = root and user.uid = 0`, exec, true},
		{`container.id = 3f1c2d3e4f5a`, exec, true},
		{`container.image.repository = registry:5000/team/app and container.image.tag = "1.2"`, exec, true},
		{`container.label[app] = web`, exec, true},
		{`ruled.container.labels[app] = web`, exec, true},
		{`ruled.container.labels[nope] != web`, exec, false},
		{`ruled.proc.exe = /usr/bin/bash`, exec, true},
		{`proc.pname = java and proc.pexepath = /usr/bin/java and proc.pcmdline = "java -jar app.jar"`, exec, true},
		// Fields the process table derives; absent (or <NA>) when unknown.
		{`proc.sname = sshd and proc.loginshellid = 77 and proc.duration = 3000000000`, session, true},
		{`user.loginname = alice and user.homedir = /home/alice and user.shell = /bin/zsh and group.name = wheel`, session, true},
		{`proc.vpgid = 7 and proc.is_vpgid_leader = true`, session, true},
		{`proc.vpgid exists`, exec, false},
		{`proc.exe_ino = 4242 and proc.is_exe_writable = true and proc.exe_ino.ctime = 1700000000000000005 and proc.exe_ino.mtime < 1600000000000000008`, session, true},
		{`proc.is_exe_writable = false`, exec, false},
		{`proc.exe_ino.ctime exists`, exec, false},
		{`proc.is_vpgid_leader = false`, exec, false},
		{`proc.sname != sshd`, exec, false},
		{`proc.loginshellid != 77`, exec, false},
		{`proc.duration <= 5000000000`, exec, false},
		{`not proc.duration <= 5000000000`, exec, true},
		{`user.loginname = "<NA>" and user.homedir = "<NA>" and user.shell = "<NA>" and group.name = "<NA>"`, exec, true},
		// fd.connected: a socket's, from the event.
		{`fd.connected = true`, connected, true},
		{`fd.connected = false`, failedConn, true},
		{`fd.connected = false`, exec, false},
		// Absent values fail every comparison, != included.
		{`proc.pname != java`, orphan, false},
		{`not proc.pname = java`, orphan, true},
		{`proc.pname exists`, orphan, false},
		// Ancestors: [N] is one level (0 the process), no index any level.
		{`proc.aname[0] = bash and proc.aname[1] = java and proc.aname[2] = containerd-shim`, exec, true},
		{`proc.aname[4] != x`, exec, false},
		{`proc.aname = systemd`, exec, true},
		{`proc.aname in (runc, containerd-shim)`, exec, true},
		{`proc.aname = bash`, exec, false},
		{`proc.aexepath[1] = /usr/bin/java`, exec, true},
		// Transformers.
		{`tolower(proc.name) = bash and toupper(proc.name) = BASH`, exec, true},
		{`basename(proc.exepath) = bash`, exec, true},
		{`b64(proc.cmdline) = x`, exec, false}, // not base64: no value
		{`len(proc.name) = 4`, exec, true},
		{`proc.name = val(proc.aname[0])`, exec, true},
		{`proc.name != val(proc.pname)`, exec, true},
		// Event types: Falco's syscall names on ruled's normalized events.
		{`spawned_process`, exec, true},
		{`evt.type = execveat`, exec, false},
		{`evt.type in (open, openat, openat2)`, open, true},
		{`evt.type = openat`, open, true},
		{`evt.type = open`, open, false},
		{`evt.type = creat`, creat, true},
		{`evt.type != openat`, open, false},
		{`evt.is_open_read = true and fd.typechar = f and fd.num >= 0 and fd.directory = /etc and fd.filename = shadow`, open, true},
		{`evt.is_open_write = true and evt.arg.name = /var/run/docker.sock`, creat, true},
		{`evt.res = SUCCESS`, open, true},
		{`evt.time = "10:00:00.000000001" and evt.rawtime = 1796378400000000001`, timed, true},
		{`fd.directory in (/etc/pam.d, /etc)`, open, true},
		{`fd.directory = /et`, open, false},
		{`fd.directory = "/etc/"`, open, false}, // Falco's directory has no trailing /
		{`proc.cwd startswith /dev/shm/`, shm, true},
		{`proc.cwd startswith /dev/shm`, shm, true},
		{`proc.cwd = /dev/shm/`, shm, true},
		{`proc.cwd startswith /dev/shm/`, shmx, false},
		{`container.id != host and container.id = 3f1c2d3e4f5a and container.id != ""`, exec, true},
		{`container.id = host`, orphan, false},
		// evt.num counts from 1: the upstream never_true / always_true.
		// A branch needing an event ruled never produces is false on every
		// event ruled sees, whatever fields it tests.
		{`evt.type = openat or (evt.type in (sendto, sendmsg) and fd.connected = false)`, open, true},
		{`evt.type = openat or (evt.type in (sendto, sendmsg) and fd.connected = false)`, exec, false},
		{`evt.num = 0`, exec, false},
		{`evt.num >= 0`, exec, true},
		// Networks.
		{`fd.rnet in (nets)`, conn, true},
		{`fd.net = "172.16.0.0/12"`, conn, true},
		{`fd.snet = "172.16.0.0/12"`, conn, false}, // the server is the remote end of a connect
		{`fd.sip = 10.1.2.3 and fd.sport = 4444 and fd.cip = 172.17.0.2 and fd.lport = 40000`, conn, true},
		{`fd.port = 4444`, conn, true},
		{`fd.sockfamily = ip`, conn, true},
		{`fd.sockfamily exists`, open, false},
		{`fd.port != 4444`, conn, false}, // != holds only when neither end has it
		{`fd.port != 1`, conn, true},
		{`fd.port > 40000`, conn, false},
		{`fd.port >= 40000`, conn, true},
		{`fd.port in (1, 40000)`, conn, true},
		{`fd.ip != "10.1.2.3"`, conn, false},
		{`fd.ip = "10.1.2.3"`, conn, true},
		{`fd.net != "127.0.0.0/8"`, conn, true},
		{`fd.net != "10.0.0.0/8"`, conn, false},
		{`fd.snet in (nets)`, conn, true},
		{`fd.rnet = "10.0.0.0/8"`, mapped, true}, // an IPv4-mapped address is the IPv4 address
		{`fd.rip = 10.1.2.3`, mapped, true},
		{`fd.rip != 10.1.2.3`, mapped, false},
		{`fd.rip in (10.1.2.4, 10.1.2.3)`, conn, true},
		{`fd.rip = "fd00::1"`, v6, true},
		{`fd.rip = "fd00:0::1"`, v6, true},
		{`fd.rnet = "10.1.2.3"`, mapped, true},
		{`fd.rnet = "10.1.2.3/32"`, conn, true},
		{`fd.rnet = "10.1.2.4"`, conn, false},
		{`fd.rnet = "0.0.0.0/0"`, conn, true},
		{`fd.rnet = "10.1.0.0/16"`, conn, true},
		{`fd.rnet = "10.1.2.0/25"`, conn, true},
		{`fd.rnet = "10.1.2.128/25"`, conn, false},
		{`fd.lnet = "172.16.0.0/12"`, conn, true},
		{`fd.lnet = "172.17.0.0/16"`, conn, true},
		{`fd.lnet = "172.0.0.0/12"`, conn, false},
		{`fd.lnet = "172.16.0.0/13"`, conn, true},
		{`fd.lnet = "172.18.0.0/15"`, conn, false},
		{`fd.rnet = "::/0"`, conn, false},
		{`fd.rnet = "fd00::/8"`, v6, true},
		{`fd.rnet = "10.0.0.0/8"`, v6, false},
		{`fd.cnet in (nets)`, conn, false},
		{`fd.name = "172.17.0.2:40000->10.1.2.3:4444" and fd.typechar = 4 and fd.l4proto = tcp`, conn, true},
		// Precedence: not binds tighter than and, and tighter than or.
		{`not proc.name = sh and proc.pid = 42`, exec, true},
		{`proc.name = sh or proc.name = bash and proc.pid = 1`, exec, false},
		{`(proc.name = sh or proc.name = bash) and not(proc.pid = 1)`, exec, true},
	}
	for _, c := range cases {
		f, err := CompileFilterLang(c.cond, LangFalco, eng)
		if err != nil {
			t.Errorf("%s: %v", c.cond, err)
			continue
		}
		if got := f.Match(&c.ev); got != c.want {
			t.Errorf("%s on %s: got %v, want %v", c.cond, c.ev.Evt.Type, got, c.want)
		}
	}
}

func TestFalcoConditionErrors(t *testing.T) {
	eng := mustNew(t, Options{}, yamlFile("defs.yaml", falcoDefs))
	cases := []struct{ cond, want string }{
		{`proc.name =`, "expected a value, got end of condition (1:12)"},
		{`proc.name bash`, "expected an operator after proc.name"},
		{`proc.name = bash and`, "expected a condition"},
		{`(proc.name = bash`, "expected ) to close"},
		{`proc.pid = abc`, `proc.pid is a number, "abc" is not (1:12)`},
		{`proc.pid = 0x2a`, `proc.pid is a number, "0x2a" is not`},
		{`proc.exepath bcontains 2f62`, "operator bcontains applies to byte-buffer fields"},
		{`evt.buffer bcontains 2f62`, "needs field evt.buffer"},
		{`proc.nmae = x`, "needs field proc.nmae"},
		{`foo.bar = x`, "unknown field foo.bar (1:1)"},
		{`no_such_macro`, "undefined macro no_such_macro"},
		{`shells`, "shells is a list, not a macro"},
		{`proc.name in nolist`, "undefined list nolist"},
		{`proc.name in shells`, "write in (shells)"},
		{`proc.name pmatch (a)`, ""},
		{`fd.rnet = "x/8"`, "fd.rnet takes a network"},
		{`proc.aname[x] = a`, "ancestor level"},
		{`ruled.proc.args[x] exists`, "the argument is an index"},
		{`ruled.proc.name[1] = x`, "takes no argument"},
		{`fd.sip.name = kubernetes`, "needs field fd.sip.name"},
		{`evt.type = execve and fd.ino = 0`, "needs field fd.ino"},
		{`proc.pid contains 1`, "operator contains does not apply to proc.pid"},
		{`proc.name = "unterminated`, "unterminated string"},
	}
	for _, c := range cases {
		_, err := CompileFilterLang(c.cond, LangFalco, eng)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.cond, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.cond, err, c.want)
		}
	}
}
