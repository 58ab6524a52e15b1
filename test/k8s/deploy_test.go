package k8s

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ruled/ruled/test/e2e"
)

// need returns the path of a tool test/setup.sh installs, failing under CI
// and skipping elsewhere when it is missing.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		e2e.Unavailable(t, "%s not installed (test/setup.sh installs it): %v", tool, err)
	}
	return p
}

// TestSystemdUnit: deploy/ruled.service passes systemd-analyze verify
// (with its binary path pointed at a freshly built ruled), grants what the
// image proves sufficient without refusing real-time scheduling, and the
// subcommand its ExecStopPost runs exists.
func TestSystemdUnit(t *testing.T) {
	analyze := need(t, "systemd-analyze")
	bin := e2e.RuledBinary(t)
	unit, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "ruled.service"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Restart=on-failure", "ExecStopPost=/usr/local/bin/ruled recover"}
	for _, c := range imageCaps { // what the image proves sufficient
		want = append(want, "CAP_"+c)
	}
	for _, want := range want {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// CAP_SYS_NICE is there for the exec readers' real-time priority,
	// which RestrictRealtime=yes would refuse whatever the capabilities.
	if regexp.MustCompile(`(?m)^RestrictRealtime=(yes|true|on|1)\s*$`).Match(unit) {
		t.Error("unit restricts real-time scheduling: the proc connector's exec readers would run at normal priority")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ruled.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/ruled", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// ExecStopPost's command line must be one ruled accepts.
	m := regexp.MustCompile(`(?m)^ExecStopPost=/usr/local/bin/ruled (.*)$`).FindStringSubmatch(string(unit))
	if m == nil {
		t.Fatal("no ExecStopPost running ruled")
	}
	if out, err := exec.Command(bin, append(strings.Fields(m[1]), "-h")...).CombinedOutput(); err != nil {
		t.Errorf("ruled %s -h: %v\n%s", m[1], err, out)
	}
}

// TestLogrotate: the logrotate snippet parses (logrotate -d) and, pointed
// at a scratch directory, rotates a file.
func TestLogrotate(t *testing.T) {
	lr := need(t, "logrotate")
	conf, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "logrotate.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "log")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logs, "alerts.json"), []byte(`{"rule":"x"}`+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	c := strings.ReplaceAll(string(conf), "/var/log/ruled", logs)
	// The postrotate step signals the system's ruled.service: not here.
	c = regexp.MustCompile(`(?s)\tpostrotate.*?endscript\n`).ReplaceAllString(c, "")
	c = strings.ReplaceAll(c, "create 0640 root adm", "create 0640")
	cpath := filepath.Join(dir, "ruled")
	if err := os.WriteFile(cpath, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	out, err := exec.Command(lr, "-d", "-s", state, cpath).CombinedOutput()
	if err != nil || strings.Contains(string(out), "error") {
		t.Fatalf("logrotate -d: %v\n%s", err, out)
	}
	if out, err := exec.Command(lr, "-f", "-s", state, cpath).CombinedOutput(); err != nil {
		t.Fatalf("logrotate -f: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(logs, "alerts.json.1")); err != nil {
		ents, _ := os.ReadDir(logs)
		t.Errorf("no rotated alerts.json.1: %v (dir: %v)", err, ents)
	}
	// logrotate -d on the snippet as shipped: it must parse as is.
	out, err = exec.Command(lr, "-d", "-s", state, filepath.Join(repoRoot(t), "deploy", "logrotate.conf")).CombinedOutput()
	if err != nil || strings.Contains(string(out), "error:") {
		t.Errorf("logrotate -d deploy/logrotate.conf: %v\n%s", err, out)
	}
}
