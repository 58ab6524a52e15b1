package audit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

// TestAuditdScriptStopsAndRestores: test/auditd.sh, which make test runs
// before (stop) and after (restore, also on failure) the tests, starts a
// host auditd again the way it ran, and starts none that was not running.
func TestAuditdScriptStopsAndRestores(t *testing.T) {
	e2e.RequireRoot(t)
	if _, err := exec.LookPath("auditd"); err != nil {
		t.Fatalf("auditd not installed (test/setup.sh installs it): %v", err)
	}
	if pgrepAuditd() != 0 {
		e2e.Unavailable(t, "an auditd is already running (test/setup.sh stops it); this test plays the host's own")
	}
	saveAudit(t)
	dir := t.TempDir()
	note := filepath.Join(dir, "note")
	script := func(arg string) string {
		t.Helper()
		cmd := exec.Command("bash", "../auditd.sh", arg)
		cmd.Env = append(os.Environ(), "RULED_AUDITD_NOTE="+note)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("test/auditd.sh %s: %v\n%s", arg, err, out)
		}
		return string(out)
	}
	waitAuditd := func(want bool) int {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			pid := pgrepAuditd()
			if (pid != 0) == want {
				return pid
			}
			if time.Now().After(deadline) {
				t.Fatalf("auditd running = %v after 5 s, want %v", pid != 0, want)
			}
		}
	}
	t.Cleanup(func() {
		if pid := pgrepAuditd(); pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			waitAuditd(false)
		}
	})

	// Nothing ran: nothing is noted, nothing is started afterwards.
	script("stop")
	if _, err := os.Stat(note); err == nil {
		t.Fatal("stop with no auditd running wrote a note")
	}
	script("restore")
	if pid := pgrepAuditd(); pid != 0 {
		t.Fatalf("restore started an auditd (pid %d) that was not running before", pid)
	}

	// The host's auditd, as a service would start it (it daemonizes).
	writeAuditdConfig(t, dir)
	if out, err := exec.Command("auditd", "-c", dir).CombinedOutput(); err != nil {
		t.Fatalf("start auditd: %v\n%s", err, out)
	}
	first := waitAuditd(true)
	script("stop")
	waitAuditd(false)
	b, err := os.ReadFile(note)
	if err != nil || !strings.Contains(string(b), "auditd -c "+dir) {
		t.Fatalf("note %q, %v: want auditd's command line", b, err)
	}
	script("restore")
	if again := waitAuditd(true); again == first {
		t.Errorf("auditd pid %d unchanged: was it stopped at all?", again)
	}
	if _, err := os.Stat(note); err == nil {
		t.Error("the note stays after restore")
	}
}
