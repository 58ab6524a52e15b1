package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ruled/ruled/rules"
	"github.com/ruled/ruled/sources/sensors/audit"
)

// auditKey marks the harness's own audit rule and its records.
const auditKey = "ruled-load"

// harnessRule is the one execve rule auditd runs with (auditctl arguments).
var harnessRule = []string{"-a", "always,exit", "-F", "arch=b64", "-S", "execve", "-k", auditKey}

// packExecKey is the key of the default pack's execve rule.
const packExecKey = "exec"

// packRules returns the default pack's kernel audit rules (rules/audit.rules)
// as auditctl argument lists, as ruled installs them on the host (parsed by
// its own parser, audit.ParseRules): without the per-container templates
// (ruled instantiates those per running container; the storm has none), and
// without a rule whose directory isDir says this host does not have
// (Rule.HostDir: the kernel refuses those; ruled skips them).
func packRules(isDir func(string) bool) ([][]string, error) {
	parsed, err := audit.ParseRules(rules.AuditRules, 0, isDir)
	if err != nil {
		return nil, fmt.Errorf("default pack audit rules: %w", err)
	}
	var out [][]string
	exec := false
	for _, r := range parsed {
		if r.Container {
			continue
		}
		if d := r.HostDir(); d != "" && !isDir(d) {
			continue
		}
		args := strings.Fields(r.Text)
		exec = exec || (slices.Contains(args, "execve,execveat") && slices.Contains(args, packExecKey))
		out = append(out, args)
	}
	if !exec {
		return nil, fmt.Errorf("default pack audit rules: no execve rule keyed %q (the harness counts its records)", packExecKey)
	}
	return out, nil
}

// isDir reports whether path is a directory on this host.
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// deleteArgs turns a rule's add arguments into its delete arguments.
func deleteArgs(add []string) []string {
	del := slices.Clone(add)
	if len(del) > 0 && del[0] == "-a" {
		del[0] = "-d"
	}
	return del
}

// addedRules returns the rules of the auditctl -l listing now that the
// listing before did not have, as auditctl add arguments (auditctl -l prints
// rules in the syntax it reads).
func addedRules(before, now string) [][]string {
	had := map[string]bool{}
	for _, l := range strings.Split(before, "\n") {
		had[strings.TrimSpace(l)] = true
	}
	var out [][]string
	for _, l := range strings.Split(now, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "-a ") && !had[l] {
			out = append(out, strings.Fields(l))
		}
	}
	return out
}

// deleteRules removes rules, ignoring those already gone.
func deleteRules(rules [][]string) {
	for _, r := range rules {
		_ = exec.Command("auditctl", deleteArgs(r)...).Run()
	}
}

// auditStatus is what `auditctl -s` reports and the harness puts back.
type auditStatus struct {
	Enabled, Failure, RateLimit, BacklogLimit, BacklogWait, PID int
}

// parseAuditStatus reads `auditctl -s` output ("enabled 1" lines).
func parseAuditStatus(b []byte) (auditStatus, error) {
	var s auditStatus
	fields := map[string]*int{
		"enabled": &s.Enabled, "failure": &s.Failure, "rate_limit": &s.RateLimit,
		"backlog_limit": &s.BacklogLimit, "backlog_wait_time": &s.BacklogWait, "pid": &s.PID,
	}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		p, want := fields[name]
		if !ok || !want {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil {
			return s, fmt.Errorf("auditctl -s: %s %q: %w", name, val, err)
		}
		*p = n
		found++
	}
	if found != len(fields) {
		return s, fmt.Errorf("auditctl -s: found %d of the %d fields the harness restores in %q", found, len(fields), b)
	}
	return s, nil
}

// auditState is the kernel audit state found at start, put back at the end.
type auditState struct {
	status auditStatus
	rules  string // auditctl -l
}

func readAuditState() (auditState, error) {
	out, err := exec.Command("auditctl", "-s").Output()
	if err != nil {
		return auditState{}, fmt.Errorf("auditctl -s: %w", err)
	}
	st, err := parseAuditStatus(out)
	if err != nil {
		return auditState{}, err
	}
	rules, err := exec.Command("auditctl", "-l").Output()
	if err != nil {
		return auditState{}, fmt.Errorf("auditctl -l: %w", err)
	}
	return auditState{status: st, rules: string(rules)}, nil
}

// checkFree refuses to run when another audit daemon holds the kernel's one
// daemon slot or the configuration is locked: the harness would have to
// take the slot away from it, and could not give it back as it was.
func (s auditState) checkFree() error {
	if s.status.PID != 0 {
		return fmt.Errorf("an audit daemon (pid %d) is running; stop it first: the harness runs auditd and ruled as the audit daemon itself", s.status.PID)
	}
	if s.status.Enabled == 2 {
		return errors.New("audit configuration is locked (enabled 2); the harness cannot restore it")
	}
	return nil
}

// restore puts back the flags found at start and removes the rules added
// since (the harness's own, if a run left them). It reports what differs
// afterwards.
func (s auditState) restore() error {
	if now, err := readAuditState(); err == nil {
		deleteRules(addedRules(s.rules, now.rules))
	}
	st := s.status
	args := [][]string{
		{"-e", strconv.Itoa(st.Enabled)},
		{"-f", strconv.Itoa(st.Failure)},
		{"-r", strconv.Itoa(st.RateLimit)},
		{"-b", strconv.Itoa(st.BacklogLimit)},
		{"--backlog_wait_time", strconv.Itoa(st.BacklogWait)},
	}
	var errs []error
	for _, a := range args {
		if out, err := exec.Command("auditctl", a...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("auditctl %s: %v: %s", strings.Join(a, " "), err, bytes.TrimSpace(out)))
		}
	}
	now, err := readAuditState()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if now.status != st {
		errs = append(errs, fmt.Errorf("audit status after restore %+v, found %+v", now.status, st))
	}
	if now.rules != s.rules {
		errs = append(errs, fmt.Errorf("audit rules after restore:\n%s\nfound:\n%s", now.rules, s.rules))
	}
	return errors.Join(errs...)
}

// auditd is a Debian auditd run in the foreground with its own
// configuration directory, writing to a log in the harness's directory.
type auditd struct {
	cmd   *exec.Cmd
	log   string
	rules [][]string // installed; removed by stop
}

// startAuditd starts auditd with the host's auditd.conf, pointed at a log
// file and an empty plugin directory in dir, and installs rules (auditctl
// add arguments).
func startAuditd(dir string, rules [][]string) (*auditd, error) {
	conf, err := os.ReadFile("/etc/audit/auditd.conf")
	if err != nil {
		return nil, fmt.Errorf("auditd config: %w", err)
	}
	cdir := filepath.Join(dir, "auditd")
	plugins := filepath.Join(cdir, "plugins.d")
	if err := os.MkdirAll(plugins, 0o750); err != nil {
		return nil, err
	}
	log := filepath.Join(dir, "audit.log")
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		name, _, _ := strings.Cut(sc.Text(), "=")
		switch strings.TrimSpace(name) {
		case "log_file", "plugin_dir", "log_group", "max_log_file_action":
			continue
		}
		b.WriteString(sc.Text() + "\n")
	}
	// No rotation: the harness follows one file.
	fmt.Fprintf(&b, "log_file = %s\nplugin_dir = %s\nlog_group = root\nmax_log_file_action = IGNORE\n", log, plugins)
	if err := os.WriteFile(filepath.Join(cdir, "auditd.conf"), []byte(b.String()), 0o640); err != nil {
		return nil, err
	}
	a := &auditd{log: log, rules: rules, cmd: exec.Command("auditd", "-n", "-c", cdir)}
	a.cmd.Stderr = os.Stderr
	if err := a.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start auditd: %w", err)
	}
	// auditd is ready once it holds the daemon slot.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := readAuditState()
		if err == nil && st.status.PID == a.cmd.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			a.stop()
			return nil, fmt.Errorf("auditd (pid %d) did not register as the audit daemon within 10s", a.cmd.Process.Pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The backlog settings of Debian's /etc/audit/rules.d/audit.rules
	// (the kernel's default backlog of 64 loses records under a storm),
	// then the rules.
	for _, args := range append([][]string{{"-b", "8192"}, {"--backlog_wait_time", "60000"}}, rules...) {
		if out, err := exec.Command("auditctl", args...).CombinedOutput(); err != nil {
			a.stop()
			return nil, fmt.Errorf("auditctl %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	return a, nil
}

func (a *auditd) pid() int { return a.cmd.Process.Pid }

// stop removes the rules and ends auditd (SIGTERM, then SIGKILL after 10 s).
func (a *auditd) stop() {
	deleteRules(a.rules)
	stopProcess(a.cmd, 10*time.Second)
}

// stopProcess sends SIGTERM and waits, killing after grace.
func stopProcess(cmd *exec.Cmd, grace time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}
