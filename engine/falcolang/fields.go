package falcolang

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ruled/ruled/sources/event"
)

// Kind is how Falco compares a field's values.
type Kind int

// Field kinds.
const (
	KString    Kind = iota
	KInt            // Falco's integer types; values parse as numbers
	KBool           // values are true or false
	KIP             // an address; values are addresses
	KNet            // addresses (Expr lists them, comma-separated) tested against networks: =, in hold for any, != for all
	KList           // several values: only in, intersects and exists apply
	KAncestors      // proc.aname without an index: true when any ancestor matches
	KPorts          // fd.port: either end's port (Expr lists both); = < > in hold for either, != for both
)

func (k Kind) String() string {
	return [...]string{"string", "number", "bool", "address", "network", "list", "ancestor list", "port pair"}[k]
}

// Alias is one Falco field's meaning over ruled's event: an expr expression
// for its value and, when the value can be absent (Falco then fails every
// comparison, != included), an expr expression for its presence.
type Alias struct {
	Kind    Kind
	Expr    string
	Present string // "" = always present
	Doc     string // how the value is derived, for rules/README.md
}

// Aliases is the alias table: Falco field -> ruled derivation. A Falco
// field missing here, under a Falco field class, is one ruled has no data
// for: rules using it load disabled. Adding a field ruled learns to collect
// is one line here (and a row in rules/README.md).
var Aliases = map[string]Alias{
	"evt.type":          {KString, "evt.type", "", "Falco syscall names map to ruled's normalized types (openat -> open + evt.syscall); see below"},
	"evt.dir":           {KString, `"<"`, "", "always < : ruled's events are syscall exits"},
	"evt.res":           {KString, "evt.res >= 0 ? \"SUCCESS\" : falco_errname(evt.res, evt.success)", "", "SUCCESS, or the errno name (ENOENT ...) of a negative evt.res"},
	"evt.rawres":        {KInt, "evt.res", "", "evt.res"},
	"evt.failed":        {KBool, "!evt.success", "", "not evt.success"},
	"evt.time":          {KString, `evt.time.Format("15:04:05.000000000")`, "", "evt.time as Falco prints it (hh:mm:ss.nanoseconds)"},
	"evt.rawtime":       {KInt, "evt.time.UnixNano()", "", "evt.time in ns since the epoch"},
	"evt.is_open_read":  {KBool, `evt.type == "open" && !file.write`, `evt.type == "open"`, "open events: not file.write (ruled does not tell read-write opens apart)"},
	"evt.is_open_write": {KBool, `evt.type == "open" && file.write`, `evt.type == "open"`, "open events: file.write"},
	"evt.arg.name":      {KString, "file.path", `file.path != ""`, "file.path (open, unlinkat)"},
	"evt.arg.path":      {KString, "file.path", `file.path != ""`, "file.path (unlink, mkdir)"},
	"evt.arg.pathname":  {KString, "file.path", `file.path != ""`, "file.path"},
	"evt.arg.oldpath":   {KString, "file.path", `file.target != ""`, "file.path (rename, link)"},
	"evt.arg.newpath":   {KString, "file.target", `file.target != ""`, "file.target (rename, link)"},
	"evt.arg.res":       {KInt, "evt.res", "", "evt.res"},
	"evt.arg.flags":     {KString, `join(arg.flags, "|")`, `evt.type == "open" && len(arg.flags) > 0`, "arg.flags joined by | (O_WRONLY|O_CREAT|O_TRUNC); openat2's are not in audit's record"},
	"evt.arg.mode":      {KString, `join(arg.mode, "|")`, `evt.type == "chmod" || evt.type == "open" && "O_CREAT" in arg.flags`, "arg.mode joined by | (S_IXOTH|...|S_ISUID): chmod's, and open's when it creates"},
	"evt.arg.request":   {KString, "falco_ptrace(arg.request)", `evt.type == "ptrace"`, "ptrace request by name (PTRACE_ATTACH ...) from arg.request"},
	"evt.arg.domain":    {KString, "falco_domain(arg.domain)", `evt.type == "socket"`, "socket family by name (AF_PACKET ...) from arg.domain"},
	"evt.arg.cmd":       {KString, "falco_bpfcmd(arg.request)", `evt.type == "bpf"`, "bpf command by name (BPF_PROG_LOAD ...) from arg.request"},
	"evt.arg.uid":       {KString, "string(arg.uid)", `evt.type == "setuid"`, "arg.uid as a number (ruled does not resolve the target uid to a name)"},
	"evt.arg.target":    {KString, "file.path", `evt.type == "symlink"`, "file.path of a symlink (what the link points to)"},
	"evt.arg.linkpath":  {KString, "file.target", `evt.type == "symlink"`, "file.target of a symlink (the link created)"},

	"proc.name":               {KString, "proc.name", "", "proc.name (comm)"},
	"proc.exe":                {KString, "len(proc.args) > 0 ? proc.args[0] : falco_argv0(proc.args, proc.cmdline)", "", "argv[0]: proc.args[0], else the first word of proc.cmdline"},
	"proc.exepath":            {KString, `proc.exe startsWith "/memfd:" ? falco_exepath(proc.exe) : proc.exe`, "", "proc.exe; a memfd executable as Falco writes it (memfd:NAME)"},
	"proc.cmdline":            {KString, "falco_cmdline(proc.name, proc.args, proc.cmdline)", "", "proc.name + the arguments after argv[0]"},
	"proc.args":               {KString, "falco_args(proc.args, proc.cmdline)", "", "the arguments after argv[0], joined by spaces"},
	"proc.pid":                {KInt, "proc.pid", "", "proc.pid"},
	"proc.tid":                {KInt, "proc.tid", "", "proc.tid"},
	"thread.tid":              {KInt, "proc.tid", "", "proc.tid"},
	"proc.ppid":               {KInt, "proc.ppid", "proc.ppid != 0", "proc.ppid"},
	"proc.sid":                {KInt, "proc.sid", "", "proc.sid"},
	"proc.vpid":               {KInt, "proc.vpid", "", "proc.vpid"},
	"proc.cwd":                {KString, "falco_dirslash(proc.cwd)", `proc.cwd != ""`, "proc.cwd with a trailing / (Falco's form)"},
	"proc.tty":                {KInt, "proc.tty ? 1 : 0", "", "1 when proc.tty (ruled does not record the device number), else 0"},
	"proc.pname":              {KString, "proc.pname", `proc.pname != ""`, "proc.pname"},
	"proc.pexepath":           {KString, "proc.pexe", `proc.pexe != ""`, "proc.pexe"},
	"proc.pexe":               {KString, "falco_firstword(proc.pcmdline)", `proc.pcmdline != ""`, "the parent's argv[0]: first word of proc.pcmdline"},
	"proc.pcmdline":           {KString, "falco_pcmdline(proc.pname, proc.pcmdline)", `proc.pcmdline != ""`, "proc.pname + the parent's arguments after argv[0]"},
	"proc.is_exe_upper_layer": {KBool, "proc.exe_upper_layer", "", "proc.exe_upper_layer"},
	"thread.cap_effective":    {KString, `join(proc.cap_effective, " ")`, "", "proc.cap_effective joined by spaces (CAP_CHOWN CAP_SYS_ADMIN ...)"},
	"thread.cap_permitted":    {KString, `join(proc.cap_permitted, " ")`, "", "proc.cap_permitted joined by spaces"},
	"thread.cap_inheritable":  {KString, `join(proc.cap_inheritable, " ")`, "", "proc.cap_inheritable joined by spaces"},
	"proc.env":                {KString, `join(proc.env, " ")`, "", "proc.env joined by spaces (read at exec, at most 4 KiB)"},
	"proc.sname":              {KString, "proc.sname", `proc.sname != ""`, "proc.sname (the session leader's name, from the process table)"},
	"proc.loginshellid":       {KInt, "proc.loginshellid", "proc.loginshellid != 0", "proc.loginshellid (eldest ancestor, or itself, named *sh)"},
	"proc.vpgid":              {KInt, "proc.vpgid", "proc.vpgid != 0", "proc.vpgid (the group leader's vpid; getpgid(2) at exec)"},
	"proc.is_vpgid_leader":    {KBool, "proc.vpgid == proc.vpid", "proc.vpgid != 0", "proc.vpgid == proc.vpid"},
	"proc.exe_ino":            {KInt, "proc.exe_ino", "proc.exe_ino != 0", "proc.exe_ino (stat of /proc/PID/exe at exec, made when a rule reads it)"},
	"proc.exe_ino.ctime":      {KInt, "proc.exe_ino_ctime.UnixNano()", "proc.exe_ino != 0", "proc.exe_ino_ctime in ns since the epoch"},
	"proc.exe_ino.mtime":      {KInt, "proc.exe_ino_mtime.UnixNano()", "proc.exe_ino != 0", "proc.exe_ino_mtime in ns since the epoch"},
	"proc.is_exe_writable":    {KBool, "proc.exe_writable", "proc.exe_ino != 0", "proc.exe_writable (from the executable's mode and owner; supplementary groups and read-only mounts not seen)"},
	"proc.duration":           {KInt, "proc.duration", "proc.duration > 0", "proc.duration (ns since the process's fork)"},
	"proc.is_exe_from_memfd":  {KBool, `proc.exe startsWith "/memfd:" || proc.exe startsWith "memfd:"`, "", "proc.exe starts with /memfd: or memfd: (the kernel's name of a memfd executable)"},

	"user.uid":       {KInt, "proc.euid", "", "proc.euid"},
	"user.name":      {KString, `proc.user != "" ? proc.user : "<NA>"`, "", "proc.user; <NA> when ruled could not resolve it"},
	"user.loginuid":  {KInt, "proc.auid == 4294967295 ? -1 : proc.auid", "", "proc.auid, -1 when unset"},
	"group.gid":      {KInt, "proc.gid", "", "proc.gid"},
	"user.loginname": {KString, `proc.loginname != "" ? proc.loginname : "<NA>"`, "", "proc.loginname (proc.auid's name); <NA> when unset or unresolvable"},
	"user.homedir":   {KString, `proc.homedir != "" ? proc.homedir : "<NA>"`, "", "proc.homedir; <NA> when ruled could not resolve it"},
	"user.shell":     {KString, `proc.shell != "" ? proc.shell : "<NA>"`, "", "proc.shell; <NA> when ruled could not resolve it"},
	"group.name":     {KString, `proc.group != "" ? proc.group : "<NA>"`, "", "proc.group; <NA> when ruled could not resolve it"},

	"container.id":               {KString, "falco_containerid(container.id)", "", "container.id cut to Falco's 12 characters; host for host processes"},
	"container.full_id":          {KString, "container.id", "", "container.id"},
	"container.name":             {KString, "container.id == \"host\" ? \"host\" : container.name", "", "container.name; host for host processes"},
	"container.image":            {KString, "container.image", "", "container.image"},
	"container.image.id":         {KString, "container.image_id", "", "container.image_id"},
	"container.image.repository": {KString, "falco_imagerepo(container.image)", "", "container.image without its :tag or @digest"},
	"container.image.tag":        {KString, "falco_imagetag(container.image)", "", "the :tag of container.image"},
	"container.privileged":       {KBool, "container.privileged", `container.id != "host"`, "container.privileged"},
	"container.type":             {KString, "container.runtime", `container.id != "host"`, "container.runtime"},
	"k8s.pod.name":               {KString, "k8s.pod.name", `k8s.pod.name != ""`, "k8s.pod.name"},
	"k8s.pod.uid":                {KString, "k8s.pod.uid", `k8s.pod.uid != ""`, "k8s.pod.uid"},
	"k8s.ns.name":                {KString, "k8s.ns.name", `k8s.ns.name != ""`, "k8s.ns.name"},

	"fd.name":       {KString, `file.path != "" ? file.path : fd.name`, `file.path != "" || fd.name != ""`, "file.path for file events, else fd.name (sip:sport->rip:rport)"},
	"fd.nameraw":    {KString, `file.raw != "" ? file.raw : file.path`, `file.path != ""`, "file.raw (the name as passed), else file.path"},
	"fd.directory":  {KString, "falco_dir(file.path)", `file.path != ""`, "the directory of file.path"},
	"fd.filename":   {KString, "falco_base(file.path)", `file.path != ""`, "the last element of file.path"},
	"fd.typechar":   {KString, `fd.type == "ipv4" ? "4" : fd.type == "ipv6" ? "6" : fd.type == "unix" ? "u" : fd.type == "file" || fd.type == "" && file.path != "" ? "f" : ""`, `fd.type != "" || file.path != ""`, "f for files, 4/6 for IPv4/IPv6 sockets, u for unix sockets"},
	"fd.type":       {KString, `fd.type != "" ? fd.type : "file"`, `fd.type != "" || file.path != ""`, "fd.type; file for file events"},
	"fd.num":        {KInt, "evt.res", `evt.type in ["open", "accept"] && evt.success`, "evt.res of open and accept (the descriptor they return)"},
	"fd.l4proto":    {KString, "fd.l4proto", `fd.l4proto != ""`, "fd.l4proto"},
	"fd.lip":        {KIP, "fd.sip", `fd.sip != ""`, "fd.sip (ruled's s is the local end)"},
	"fd.rip":        {KIP, "fd.rip", `fd.rip != ""`, "fd.rip"},
	"fd.lport":      {KInt, "fd.sport", `fd.sip != ""`, "fd.sport"},
	"fd.rport":      {KInt, "fd.rport", `fd.rip != ""`, "fd.rport"},
	"fd.sip":        {KIP, `evt.type == "connect" ? fd.rip : fd.sip`, `fd.sip != "" || fd.rip != ""`, "the server end: fd.rip for connect, fd.sip otherwise"},
	"fd.cip":        {KIP, `evt.type == "connect" ? fd.sip : fd.rip`, `fd.sip != "" || fd.rip != ""`, "the client end: fd.sip for connect, fd.rip otherwise"},
	"fd.sport":      {KInt, `evt.type == "connect" ? fd.rport : fd.sport`, `fd.sip != "" || fd.rip != ""`, "the server port"},
	"fd.cport":      {KInt, `evt.type == "connect" ? fd.sport : fd.rport`, `fd.sip != "" || fd.rip != ""`, "the client port"},
	"fd.net":        {KNet, "fd.sip, fd.rip", `fd.sip != "" || fd.rip != ""`, "either end's address in the network"},
	"fd.ip":         {KNet, "fd.sip, fd.rip", `fd.sip != "" || fd.rip != ""`, "either end's address"},
	"fd.lnet":       {KNet, "fd.sip", `fd.sip != ""`, "fd.sip in the network"},
	"fd.rnet":       {KNet, "fd.rip", `fd.rip != ""`, "fd.rip in the network"},
	"fd.snet":       {KNet, `evt.type == "connect" ? fd.rip : fd.sip`, `fd.sip != "" || fd.rip != ""`, "the server end in the network"},
	"fd.cnet":       {KNet, `evt.type == "connect" ? fd.sip : fd.rip`, `fd.sip != "" || fd.rip != ""`, "the client end in the network"},
	"fd.sockfamily": {KString, `fd.type == "unix" ? "unix" : "ip"`, `fd.type in ["ipv4", "ipv6", "unix"]`, "ip for IPv4 and IPv6 sockets, unix for unix sockets"},
	"fd.connected":  {KBool, "fd.connected", `fd.type in ["ipv4", "ipv6", "unix"]`, "fd.connected: a successful connect, or accept's socket"},
	"fd.port":       {KPorts, "fd.sport, fd.rport", `fd.sip != "" || fd.rip != ""`, "either end's port"},
}

// falcoClasses are Falco's field classes: a field under one of them that
// the alias table lacks is a Falco field ruled has no data for.
var falcoClasses = []string{"evt.", "proc.", "thread.", "fd.", "fdlist.", "fs.", "user.", "group.", "container.",
	"k8s.", "syslog.", "span.", "evtin.", "mesos.", "k8smeta.", "ka.", "k8saudit.", "aws.", "ct.", "gcp.", "okta.", "github.", "json.", "jevt."}

// RuledPrefix marks a field with ruled's own meaning, as the plugin names
// it inside Falco: ruled.proc.exe is ruled's proc.exe (the full path).
const RuledPrefix = "ruled."

// resolved is one field reference ready to compile.
type resolved struct {
	kind    Kind
	expr    string
	present string
	// unsigned: the plugin gives this integer to Falco as uint64, so
	// ordering compares it as one (a negative evt.res is huge).
	unsigned bool
}

// MissingError says a condition needs data ruled does not collect.
type MissingError struct {
	Offset int
	What   string // "field thread.cap_effective", "event type socket"
}

func (e *MissingError) Error() string { return "needs " + e.What + ", which ruled does not collect" }

// CompileError is a condition error at a byte offset.
type CompileError struct {
	Offset int
	Msg    string
}

func (e *CompileError) Error() string { return e.Msg }

// resolveField maps a Falco field reference to ruled's event.
func resolveField(f *FieldRef) (resolved, error) {
	name := f.Name
	if strings.HasPrefix(name, RuledPrefix) {
		return resolveRuled(f)
	}
	switch name {
	case "proc.aname", "proc.aexepath":
		return resolveAncestor(f)
	case "container.label", "container.labels":
		if !f.HasArg {
			break
		}
		k := strconv.Quote(f.Arg)
		return resolved{kind: KString, expr: "container.labels[" + k + "] ?? \"\"", present: k + " in container.labels"}, nil
	}
	if a, ok := Aliases[name]; ok && !f.HasArg {
		return resolved{kind: a.Kind, expr: a.Expr, present: a.Present}, nil
	}
	if f.HasArg {
		if a, ok := Aliases[name+"."+f.Arg]; ok && name == "evt.arg" {
			return resolved{kind: a.Kind, expr: a.Expr, present: a.Present}, nil
		}
	}
	for _, c := range falcoClasses {
		if strings.HasPrefix(name, c) {
			what := name
			if f.HasArg {
				what += "[" + f.Arg + "]"
			}
			return resolved{}, &MissingError{Offset: f.Offset, What: "field " + what}
		}
	}
	return resolved{}, &CompileError{Offset: f.Offset, Msg: fmt.Sprintf("unknown field %s", name)}
}

// resolveAncestor handles proc.aname[N] (N=0 the process itself, 1 the
// parent ...) and proc.aname with no index (any ancestor).
func resolveAncestor(f *FieldRef) (resolved, error) {
	if !f.HasArg {
		if f.Name != "proc.aname" {
			return resolved{}, &MissingError{Offset: f.Offset, What: "field " + f.Name}
		}
		return resolved{kind: KAncestors, expr: "proc.anames", present: ""}, nil
	}
	n, err := strconv.Atoi(f.Arg)
	if err != nil || n < 0 {
		return resolved{}, &CompileError{Offset: f.Offset, Msg: fmt.Sprintf("%s[%s]: the argument is an ancestor level (0, 1, 2 ...)", f.Name, f.Arg)}
	}
	if f.Name == "proc.aexepath" {
		switch n {
		case 0:
			return resolved{kind: KString, expr: "proc.exe", present: ""}, nil
		case 1:
			return resolved{kind: KString, expr: "proc.pexe", present: `proc.pexe != ""`}, nil
		}
		return resolved{}, &MissingError{Offset: f.Offset, What: fmt.Sprintf("field %s[%d] (ruled keeps the parent's path only)", f.Name, n)}
	}
	if n == 0 {
		return resolved{kind: KString, expr: "proc.name", present: ""}, nil
	}
	return resolved{kind: KString, expr: fmt.Sprintf("len(proc.anames) >= %d ? proc.anames[%d] : \"\"", n, n-1), present: fmt.Sprintf("len(proc.anames) >= %d", n)}, nil
}

// resolveRuled maps ruled.FIELD to ruled's own field, with the plugin's
// meaning inside Falco: every field has a value, except a map key that is
// absent.
func resolveRuled(f *FieldRef) (resolved, error) {
	name := strings.TrimPrefix(f.Name, RuledPrefix)
	switch name {
	case "rule", "priority", "output", "tags", "rules":
		return resolved{}, &MissingError{Offset: f.Offset, What: "field " + f.Name + " (the plugin's report of ruled's own matches inside Falco; ruled runs its rules directly)"}
	}
	ef, ok := event.Lookup(name)
	if !ok {
		return resolved{}, &CompileError{Offset: f.Offset, Msg: fmt.Sprintf("unknown field %s (ruled has no field %s)", f.Name, name)}
	}
	if ef.Kind == event.KindMap {
		if !f.HasArg {
			return resolved{}, &CompileError{Offset: f.Offset, Msg: fmt.Sprintf("field %s needs a key: %s[KEY]", f.Name, f.Name)}
		}
		k := strconv.Quote(f.Arg)
		return resolved{kind: KString, expr: name + "[" + k + "] ?? \"\"", present: k + " in " + name}, nil
	}
	if f.HasArg && ef.Kind == event.KindStrings {
		// ruled.proc.args[N]: the element at index N alone, as a list.
		n, err := strconv.Atoi(f.Arg)
		if err != nil || n < 0 {
			return resolved{}, &CompileError{Offset: f.Offset, Msg: fmt.Sprintf("%s[%s]: the argument is an index (0, 1 ...)", f.Name, f.Arg)}
		}
		return resolved{kind: KList, expr: fmt.Sprintf("[%s[%d]]", name, n), present: fmt.Sprintf("len(%s) > %d", name, n)}, nil
	}
	if f.HasArg {
		return resolved{}, &CompileError{Offset: f.Offset, Msg: fmt.Sprintf("field %s takes no argument", f.Name)}
	}
	switch ef.Kind {
	case event.KindInt:
		return resolved{kind: KInt, expr: name, unsigned: true}, nil
	case event.KindBool:
		return resolved{kind: KBool, expr: name, present: ""}, nil
	case event.KindStrings:
		// An empty list is no value inside Falco: exists and in are false.
		return resolved{kind: KList, expr: name, present: "len(" + name + ") > 0"}, nil
	case event.KindTime:
		return resolved{kind: KInt, expr: name + ".UnixNano()", unsigned: true}, nil
	}
	return resolved{kind: KString, expr: name, present: ""}, nil
}

// FieldExpr returns the expr text of Falco field name (with an optional
// [argument]) and of its presence test ("" = always present), for output
// templates.
func FieldExpr(name string) (value, present string, err error) {
	f := &FieldRef{Name: name}
	if i := strings.IndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
		f.Name, f.Arg, f.HasArg = name[:i], name[i+1:len(name)-1], true
	}
	if f.Name == "evt.arg" && f.HasArg {
		f.Name, f.HasArg = "evt.arg."+f.Arg, false
	}
	if f.Name == "evt.type" && !f.HasArg {
		// Falco prints the syscall's own name (openat, not open).
		return `evt.syscall != "" ? evt.syscall : evt.type`, "", nil
	}
	r, err := resolveField(f)
	if err != nil {
		return "", "", err
	}
	switch r.kind {
	case KNet:
		return "", "", &MissingError{What: "field " + name + " (a filter-only field)"}
	case KAncestors:
		return "join(" + r.expr + ", \",\")", r.present, nil
	}
	return r.expr, r.present, nil
}
