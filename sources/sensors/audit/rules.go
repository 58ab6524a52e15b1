package audit

import (
	"bufio"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/elastic/go-libaudit/v2/rule"
	"github.com/elastic/go-libaudit/v2/rule/flags"
)

// Rule is one audit rule from a rules file, ready for the kernel.
type Rule struct {
	Line int    // line in the rules text (1-based)
	Text string // the rule as installed (after -w translation and the pid filter)
	Wire []byte // kernel wire format (struct audit_rule_data)
	// Path is the directory or file the rule filters on (dir=/path=), so
	// an installer can skip a rule whose directory does not exist here.
	Path string
	Dir  bool
	// Container: the rule is installed into containers only (a line that
	// starts with the word "container"), never on the host.
	Container bool
}

// HostDir is the directory the rule's dir= or path= filter needs on this
// host (the directory itself, or the file's), "" without such a filter:
// the kernel watches a file through its directory and refuses a rule whose
// directory does not exist.
func (r Rule) HostDir() string {
	switch {
	case r.Path == "":
		return ""
	case r.Dir:
		return r.Path
	default:
		return filepath.Dir(r.Path)
	}
}

// ParseRules turns auditctl-syntax rules (one per line, '#' comments) into
// kernel rules. Only -a/-A syscall rules and -w watches are accepted; control
// commands (-D, -b, -e, -f) are refused, since ruled owns those settings and
// must restore them. A -w watch becomes the equivalent "-a always,exit" rule
// with dir= (trailing '/' or a known directory) or path=, because only
// syscall rules can carry the extra filter. When excludePID is > 0, each rule
// gets "-F pid!=excludePID" so that ruled's own syscalls are never audited
// into a feedback loop (its /proc and Docker socket reads would otherwise
// produce events whose enrichment produces more).
//
// A rule line may start with the word "container": the rule is then only
// copied into containers (rooted at each container's root, see CopyAt), never
// installed on the host. Its dir= or path= filter names a path inside the
// container; "-F dir=/" means the whole container filesystem.
func ParseRules(text string, excludePID int, isDir func(string) bool) ([]Rule, error) {
	var out []Rule
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		fields := strings.Fields(s)
		r := Rule{Line: line}
		if fields[0] == "container" {
			r.Container = true
			s = strings.TrimSpace(strings.TrimPrefix(s, "container"))
			fields = fields[1:]
			if len(fields) == 0 {
				return nil, fmt.Errorf("line %d: container: a rule must follow", line)
			}
		}
		switch fields[0] {
		case "-a", "-A":
			r.Path, r.Dir = filterPath(fields)
		case "-w":
			var err error
			s, r.Path, r.Dir, err = watchToSyscall(fields, isDir)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
		default:
			return nil, fmt.Errorf("line %d: %q: only -a, -A and -w rules are allowed", line, fields[0])
		}
		if excludePID > 0 {
			s += " -F pid!=" + strconv.Itoa(excludePID)
		}
		parsed, err := flags.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		wire, err := rule.Build(parsed)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if r.Container && r.Path == "" {
			return nil, fmt.Errorf("line %d: a container rule needs a dir= or path= filter (a path inside the container)", line)
		}
		r.Text, r.Wire = s, wire
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}

// filterPath finds a dir= or path= filter in a syscall rule.
func filterPath(fields []string) (string, bool) {
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] != "-F" {
			continue
		}
		if p, ok := strings.CutPrefix(fields[i+1], "dir="); ok {
			return p, true
		}
		if p, ok := strings.CutPrefix(fields[i+1], "path="); ok {
			return p, false
		}
	}
	return "", false
}

// watchToSyscall rewrites "-w PATH [-p PERM] [-k KEY]..." as a syscall rule.
func watchToSyscall(fields []string, isDir func(string) bool) (s, p string, dir bool, err error) {
	var perm string
	var keys []string
	for i := 0; i < len(fields); i++ {
		if i+1 >= len(fields) {
			return "", "", false, fmt.Errorf("%s needs a value", fields[i])
		}
		switch fields[i] {
		case "-w":
			p = fields[i+1]
		case "-p":
			perm = fields[i+1]
		case "-k", "-F":
			if fields[i] == "-F" {
				if k, ok := strings.CutPrefix(fields[i+1], "key="); ok {
					keys = append(keys, k)
					break
				}
				return "", "", false, fmt.Errorf("watch filter %q is not supported", fields[i+1])
			}
			keys = append(keys, fields[i+1])
		default:
			return "", "", false, fmt.Errorf("watch option %q is not supported", fields[i])
		}
		i++
	}
	if p == "" {
		return "", "", false, fmt.Errorf("-w needs a path")
	}
	dir = strings.HasSuffix(p, "/") || (isDir != nil && isDir(p))
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		p = "/"
	}
	var b strings.Builder
	b.WriteString("-a always,exit")
	if dir {
		b.WriteString(" -F dir=" + p)
	} else {
		b.WriteString(" -F path=" + p)
	}
	if perm == "" {
		perm = "rwxa"
	}
	b.WriteString(" -F perm=" + perm)
	for _, k := range keys {
		b.WriteString(" -k " + k)
	}
	return b.String(), p, dir, nil
}

// ContainerCopy returns r re-rooted in the container whose process pid is:
// its path= filter is prefixed with /proc/PID/root, which the kernel
// resolves when the rule is added into the container's own file (the watch
// follows that inode, not the path, so it outlives pid). Only path= rules
// can be copied: the kernel refuses dir= rules on mounts of another mount
// namespace. ok is false for rules without a path= filter.
func (r Rule) ContainerCopy(pid int) (c Rule, ok bool, err error) {
	return r.CopyAt("/proc/" + strconv.Itoa(pid) + "/root")
}

// CopyAt returns r with its path= filter prefixed with root, a host path
// that leads to a container's root directory: /proc/PID/root, or the
// mountpoint of the container's overlay before any of its processes exist.
// A dir= filter is copied only for a container rule, and only root a mount
// point of ruled's own mount namespace (the overlay mount) takes it: the
// kernel tags the mount's directory tree, which the container's processes
// share, but refuses a tree in another mount namespace (/proc/PID/root).
func (r Rule) CopyAt(root string) (c Rule, ok bool, err error) {
	if r.Path == "" || (r.Dir && !r.Container) {
		return Rule{}, false, nil
	}
	key, p := "path=", root+r.Path
	if r.Dir {
		key, p = "dir=", filepath.Join(root, r.Path)
	}
	fields := strings.Fields(r.Text)
	for i, f := range fields {
		if f == key+r.Path {
			fields[i] = key + p
		}
	}
	text := strings.Join(fields, " ")
	parsed, err := flags.Parse(text)
	if err != nil {
		return Rule{}, true, fmt.Errorf("container copy of line %d: %w", r.Line, err)
	}
	wire, err := rule.Build(parsed)
	if err != nil {
		return Rule{}, true, fmt.Errorf("container copy of line %d: %w", r.Line, err)
	}
	return Rule{Line: r.Line, Text: text, Wire: wire, Path: p, Dir: r.Dir}, true, nil
}
