package event

import "time"

// Event is one normalized kernel observation. Every part is a value, never a
// pointer: rule conditions such as proc.stdin.type == "socket" then never hit
// a nil dereference, and an unknown value is simply the zero value.
//
// The expr tags give the names used in rule conditions; the json tags the
// nested JSON encoding (the -replay format). Both are the names of the README's field table.
type Event struct {
	Evt       Evt       `json:"evt" expr:"evt"`
	Proc      Proc      `json:"proc" expr:"proc"`
	Container Container `json:"container" expr:"container"`
	K8s       K8s       `json:"k8s,omitzero" expr:"k8s"`
	NS        NS        `json:"ns,omitzero" expr:"ns"`
	FD        FD        `json:"fd,omitzero" expr:"fd"`
	File      File      `json:"file,omitzero" expr:"file"`
	Arg       Arg       `json:"arg,omitzero" expr:"arg"`
}

// Event types (evt.type).
const (
	TypeExecve      = "execve"
	TypeFork        = "fork"
	TypeExit        = "exit"
	TypeConnect     = "connect"
	TypeAccept      = "accept"
	TypeListen      = "listen"
	TypeOpen        = "open"
	TypeUnlink      = "unlink"
	TypeRename      = "rename"
	TypeChmod       = "chmod"
	TypeMount       = "mount"
	TypePivotRoot   = "pivot_root"
	TypeSetns       = "setns"
	TypeUnshare     = "unshare"
	TypePtrace      = "ptrace"
	TypeInitModule  = "init_module"
	TypeSetuid      = "setuid"
	TypeMemfdCreate = "memfd_create"
	// Beyond the first version's list, each recorded by a kernel-filtered audit
	// rule (rules/audit.rules) so Falco's rules that need them can run.
	TypeSocket      = "socket"      // socket(2) of a raw or packet family only
	TypeDup         = "dup"         // dup2/dup3 onto descriptors 0-2 only
	TypeLink        = "link"        // hard link (link, linkat)
	TypeSymlink     = "symlink"     // symlink, symlinkat
	TypeBPF         = "bpf"         // bpf(2) program loads
	TypeUserfaultfd = "userfaultfd" // userfaultfd(2)
	TypeSetgid      = "setgid"      // setgid, setregid, setresgid
	TypeMkdir       = "mkdir"       // mkdir, mkdirat: in containers only (rules/audit.rules)
	// TypeComm is a proc connector comm (prctl PR_SET_NAME) change; it is not
	// in the first version's list but is what the connector reports.
	TypeComm = "comm"
)

// Types lists every evt.type value ruled produces.
var Types = []string{
	TypeExecve, TypeFork, TypeExit, TypeConnect, TypeAccept, TypeListen,
	TypeOpen, TypeUnlink, TypeRename, TypeChmod, TypeMount, TypePivotRoot,
	TypeSetns, TypeUnshare, TypePtrace, TypeInitModule, TypeSetuid,
	TypeMemfdCreate, TypeComm,
	TypeSocket, TypeDup, TypeLink, TypeSymlink, TypeBPF, TypeUserfaultfd, TypeSetgid, TypeMkdir,
}

// Sources (evt.source).
const (
	SourceAudit    = "audit"
	SourceProcconn = "procconn"
	SourceProcfs   = "procfs"
	SourceReplay   = "replay"
)

// HostID is container.id of a process that runs in no container.
const HostID = "host"

// Evt describes the event itself.
type Evt struct {
	Type    string    `json:"type" expr:"type" doc:"normalized kind: execve, fork, exit, connect, accept, listen, open, unlink, rename, chmod, mount, pivot_root, setns, unshare, ptrace, init_module, setuid, memfd_create, socket, dup, link, symlink, bpf, userfaultfd, setgid, mkdir"`
	Syscall string    `json:"syscall,omitempty" expr:"syscall" doc:"raw syscall name where known (execveat, openat, accept4 ...)"`
	Time    time.Time `json:"time" expr:"time" doc:"when the kernel saw it"`
	Source  string    `json:"source" expr:"source" doc:"audit, procconn, procfs, replay"`
	Success bool      `json:"success" expr:"success" doc:"syscall succeeded"`
	Res     int       `json:"res,omitempty" expr:"res" doc:"return value / errno (negative)"`
	Keys    []string  `json:"keys,omitempty" expr:"keys" doc:"audit rule keys"`
}

// Proc describes the process that caused the event.
type Proc struct {
	PID           int      `json:"pid" expr:"pid" doc:"process id (host pid namespace)"`
	TID           int      `json:"tid,omitempty" expr:"tid" doc:"thread id (host pid namespace)"`
	PPID          int      `json:"ppid,omitempty" expr:"ppid" doc:"parent process id"`
	SID           int      `json:"sid,omitempty" expr:"sid" doc:"session id"`
	VPID          int      `json:"vpid,omitempty" expr:"vpid" doc:"pid inside the container's pid namespace"`
	Name          string   `json:"name,omitempty" expr:"name" doc:"comm (at most 15 bytes)"`
	Exe           string   `json:"exe,omitempty" expr:"exe" doc:"full path of the executable"`
	Cmdline       string   `json:"cmdline,omitempty" expr:"cmdline" doc:"args joined by spaces"`
	Args          []string `json:"args,omitempty" expr:"args" doc:"argv"`
	Cwd           string   `json:"cwd,omitempty" expr:"cwd" doc:"working directory"`
	UID           int      `json:"uid" expr:"uid" doc:"real user id"`
	GID           int      `json:"gid" expr:"gid" doc:"real group id"`
	EUID          int      `json:"euid" expr:"euid" doc:"effective user id"`
	AUID          int      `json:"auid" expr:"auid" doc:"audit login user id (4294967295 when unset)"`
	User          string   `json:"user,omitempty" expr:"user" doc:"user name where resolvable"`
	TTY           bool     `json:"tty,omitempty" expr:"tty" doc:"has a controlling terminal"`
	ExeUpperLayer bool     `json:"exe_upper_layer,omitempty" expr:"exe_upper_layer" doc:"the executable lives in the container's writable overlay layer (drift)"`
	PName         string   `json:"pname,omitempty" expr:"pname" doc:"parent comm"`
	PExe          string   `json:"pexe,omitempty" expr:"pexe" doc:"parent executable path"`
	PCmdline      string   `json:"pcmdline,omitempty" expr:"pcmdline" doc:"parent command line"`
	ANames        []string `json:"anames,omitempty" expr:"anames" doc:"ancestor names, parent first, up to the root"`
	Stdin         Stdio    `json:"stdin,omitzero" expr:"stdin" doc:"standard input"`
	Stdout        Stdio    `json:"stdout,omitzero" expr:"stdout" doc:"standard output"`
	Stderr        Stdio    `json:"stderr,omitzero" expr:"stderr" doc:"standard error"`
	// Capabilities as read from /proc/PID/status when the process was
	// seen at exec (or at start): CAP_* names, lowest bit first.
	CapEffective   []string `json:"cap_effective,omitempty" expr:"cap_effective" doc:"effective capabilities (CAP_* names) read from /proc/PID/status at exec"`
	CapPermitted   []string `json:"cap_permitted,omitempty" expr:"cap_permitted" doc:"permitted capabilities (CAP_* names) read from /proc/PID/status at exec"`
	CapInheritable []string `json:"cap_inheritable,omitempty" expr:"cap_inheritable" doc:"inheritable capabilities (CAP_* names) read from /proc/PID/status at exec"`
	Env            []string `json:"env,omitempty" expr:"env" doc:"environment (NAME=value) read from /proc/PID/environ at exec, at most 4 KiB; off with proc_env: false"`
	// Derived from the process table (ancestors, start time) and the
	// passwd and group files proc.user is named from.
	SName        string `json:"sname,omitempty" expr:"sname" doc:"name of the session leader: the process whose pid is proc.sid, else the eldest ancestor with the same session id"`
	LoginShellID int    `json:"loginshellid,omitempty" expr:"loginshellid" doc:"pid of the eldest process, this one or an ancestor, whose name ends in sh; 0 when none"`
	Duration     int    `json:"duration,omitempty" expr:"duration" doc:"nanoseconds from the process's start (fork, or /proc's start time) to the event; 0 when unknown"`
	LoginName    string `json:"loginname,omitempty" expr:"loginname" doc:"user name of proc.auid where resolvable"`
	HomeDir      string `json:"homedir,omitempty" expr:"homedir" doc:"home directory of proc.uid's passwd entry where resolvable"`
	Shell        string `json:"shell,omitempty" expr:"shell" doc:"login shell of proc.uid's passwd entry where resolvable"`
	Group        string `json:"group,omitempty" expr:"group" doc:"group name of proc.gid where resolvable"`
	PGID         int    `json:"pgid,omitempty" expr:"pgid" doc:"process group id (host pid namespace) at exec, or inherited at fork"`
	VPGID        int    `json:"vpgid,omitempty" expr:"vpgid" doc:"process group id inside the process's pid namespace; 0 when the group leader is outside it or unknown"`
	// The executable's inode, from one stat of /proc/PID/exe at exec,
	// made only when a loaded rule reads one of these fields.
	ExeIno      int       `json:"exe_ino,omitempty" expr:"exe_ino" doc:"inode number of the executable (stat of /proc/PID/exe at exec, when a rule reads it); 0 when unknown"`
	ExeInoCtime time.Time `json:"exe_ino_ctime,omitzero" expr:"exe_ino_ctime" doc:"last status change time (ctime) of the executable, read with exe_ino"`
	ExeInoMtime time.Time `json:"exe_ino_mtime,omitzero" expr:"exe_ino_mtime" doc:"last modification time (mtime) of the executable, read with exe_ino"`
	ExeWritable bool      `json:"exe_writable,omitempty" expr:"exe_writable" doc:"the executable is writable by the process's euid (root always; else the owner, group or other write bit that applies), read with exe_ino"`
}

// Stdio types (proc.stdin.type ...).
const (
	StdioSocket = "socket"
	StdioPipe   = "pipe"
	StdioTTY    = "tty"
	StdioFile   = "file"
	StdioNone   = "none"
)

// Stdio describes what one of the standard descriptors is connected to.
type Stdio struct {
	Type    string `json:"type,omitempty" expr:"type" doc:"socket, pipe, tty, file, none"`
	Name    string `json:"name,omitempty" expr:"name" doc:"path, pipe:[inode], or sip:sport->rip:rport"`
	L4Proto string `json:"l4proto,omitempty" expr:"l4proto" doc:"tcp, udp (sockets)"`
	SIP     string `json:"sip,omitempty" expr:"sip" doc:"local address (sockets)"`
	SPort   int    `json:"sport,omitempty" expr:"sport" doc:"local port (sockets)"`
	RIP     string `json:"rip,omitempty" expr:"rip" doc:"remote address (sockets)"`
	RPort   int    `json:"rport,omitempty" expr:"rport" doc:"remote port (sockets)"`
}

// Container runtimes (container.runtime).
const (
	RuntimeDocker     = "docker"
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimePodman     = "podman"
)

// Container describes the container the process runs in.
type Container struct {
	ID         string            `json:"id" expr:"id" doc:"full 64-hex container id; host for host processes"`
	Name       string            `json:"name,omitempty" expr:"name" doc:"container name from the runtime"`
	Image      string            `json:"image,omitempty" expr:"image" doc:"image reference from the runtime"`
	ImageID    string            `json:"image_id,omitempty" expr:"image_id" doc:"image id from the runtime"`
	Runtime    string            `json:"runtime,omitempty" expr:"runtime" doc:"docker, containerd, cri-o, podman"`
	Privileged bool              `json:"privileged,omitempty" expr:"privileged" doc:"container runs privileged"`
	Labels     map[string]string `json:"labels,omitempty" expr:"labels" doc:"container labels"`
}

// K8s carries Kubernetes identity taken from runtime labels.
type K8s struct {
	Pod K8sPod  `json:"pod,omitzero" expr:"pod"`
	NS  K8sName `json:"ns,omitzero" expr:"ns"`
}

// K8sPod is the pod a container belongs to.
type K8sPod struct {
	Name string `json:"name,omitempty" expr:"name" doc:"pod name (CRI pod sandbox, or io.kubernetes.* labels)"`
	UID  string `json:"uid,omitempty" expr:"uid" doc:"pod uid (CRI pod sandbox, or io.kubernetes.* labels)"`
}

// K8sName is a named Kubernetes object.
type K8sName struct {
	Name string `json:"name,omitempty" expr:"name" doc:"namespace (CRI pod sandbox, or io.kubernetes.* labels)"`
}

// NS holds namespace inode numbers.
type NS struct {
	PID int `json:"pid,omitempty" expr:"pid" doc:"pid namespace inode"`
	Net int `json:"net,omitempty" expr:"net" doc:"network namespace inode"`
	Mnt int `json:"mnt,omitempty" expr:"mnt" doc:"mount namespace inode"`
}

// FD types (fd.type).
const (
	FDIPv4 = "ipv4"
	FDIPv6 = "ipv6"
	FDUnix = "unix"
	FDFile = "file"
)

// FD describes the socket or file descriptor the event is about.
type FD struct {
	Type    string `json:"type,omitempty" expr:"type" doc:"ipv4, ipv6, unix, file"`
	L4Proto string `json:"l4proto,omitempty" expr:"l4proto" doc:"tcp, udp"`
	SIP     string `json:"sip,omitempty" expr:"sip" doc:"local address"`
	SPort   int    `json:"sport,omitempty" expr:"sport" doc:"local port"`
	RIP     string `json:"rip,omitempty" expr:"rip" doc:"remote address"`
	RPort   int    `json:"rport,omitempty" expr:"rport" doc:"remote port"`
	Name    string `json:"name,omitempty" expr:"name" doc:"path, or sip:sport->rip:rport"`
	// Connected is what the event says: a connect that succeeded, or the
	// socket an accept returned.
	Connected bool `json:"connected,omitempty" expr:"connected" doc:"the socket is connected: a successful connect, or the socket accept returned"`
}

// File describes the file the event operated on.
type File struct {
	Path   string `json:"path,omitempty" expr:"path" doc:"file operated on (absolute)"`
	Target string `json:"target,omitempty" expr:"target" doc:"rename/link destination"`
	Write  bool   `json:"write,omitempty" expr:"write" doc:"opened for writing or created"`
	Raw    string `json:"raw,omitempty" expr:"raw" doc:"the name as the process passed it, when it differs from file.path (relative, or with .. or //)"`
}

// Arg holds the syscall arguments rules ask about, as the kernel got them
// (audit's a0..a3 registers). Which ones are set depends on evt.syscall;
// the others are zero.
type Arg struct {
	Flags   []string `json:"flags,omitempty" expr:"flags" doc:"open flags by name (O_WRONLY, O_CREAT, O_TRUNC ...; the access mode first) of open, openat, creat"`
	Mode    []string `json:"mode,omitempty" expr:"mode" doc:"permission bits by name (S_IXUSR ... S_ISUID, S_ISGID) of chmod, fchmod, fchmodat, and of an open that creates"`
	Request int      `json:"request,omitempty" expr:"request" doc:"ptrace request (PTRACE_TRACEME=0, PTRACE_POKETEXT=4, PTRACE_ATTACH=16, PTRACE_SEIZE=16902 ...); bpf command (BPF_PROG_LOAD=5 ...)"`
	PID     int      `json:"pid,omitempty" expr:"pid" doc:"target pid of ptrace"`
	Domain  int      `json:"domain,omitempty" expr:"domain" doc:"address family of socket (AF_PACKET=17, AF_INET=2 ...)"`
	Type    int      `json:"type,omitempty" expr:"type" doc:"socket type of socket (SOCK_RAW=3 ...), without SOCK_NONBLOCK and SOCK_CLOEXEC"`
	UID     int      `json:"uid,omitempty" expr:"uid" doc:"target uid of setuid (the real uid of setreuid and setresuid); -1 when left unchanged"`
	FD      int      `json:"fd,omitempty" expr:"fd" doc:"descriptor of the event: dup2/dup3's new descriptor, or the fd argument"`
}
