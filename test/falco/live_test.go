package falco

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
	"github.com/ruled/ruled/test/falco/falcotest"
)

// TestLive runs the shipped snippet as is (open_params "audit,procconn",
// audit_mode multicast) inside the real Falco on the live kernel: reading
// /etc/shadow by docker exec in a busybox container raises the Falco alert
// of the ruled_rules.yaml twin with the container's name, and the audit
// rules the plugin added are gone once Falco stops. Needs root and Docker;
// run by hand under the kernel lock (flock /tmp/ruled-kernel.lock).
func TestLive(t *testing.T) {
	e2e.RequireDocker(t)
	f := falcotest.Require(t)
	cfg, doc := shipped(t, f, false)
	if p := doc.Plugins[0]; p["open_params"] != "audit,procconn" {
		t.Fatalf("plugin/falco/falco.yaml: open_params %v, want audit,procconn", p["open_params"])
	}
	if ic, _ := doc.Plugins[0]["init_config"].(map[string]any); ic["audit_mode"] != "multicast" {
		t.Fatalf("plugin/falco/falco.yaml: init_config audit_mode %v, want multicast", ic["audit_mode"])
	}

	before := e2e.ReadAuditState(t)
	if len(before.Rules) > 0 {
		// In multicast mode the plugin adds its rules only to an empty list
		// (otherwise the running daemon's rules decide what is audited).
		t.Fatalf("the kernel already has audit rules (another test or daemon left them): %q", before.Rules)
	}
	t.Cleanup(func() { before.Restore(t, e2e.ReadAuditState(t)) })

	// e2e.Agent runs any command the way the agent tests run ruled.
	cmd := f.Command(t, cfg)
	falco := e2e.StartAgent(t, cmd.Path, nil, cmd.Args[1:]...)
	falco.WaitLog(t, "audit source started", 60*time.Second)
	if before.Settings["pid"] == "0" && !strings.Contains(falco.Log(), "audit_mode multicast and no audit daemon is running") {
		t.Errorf("with no audit daemon, the start-up log does not say so:\n%s", falco.Log())
	}
	if !waitFor(30*time.Second, func() bool { return len(e2e.ReadAuditState(t).Rules) > 0 }) {
		t.Fatal("the plugin installed no audit rules within 30 s")
	}

	name := fmt.Sprintf("ruled-falco-live-%d", os.Getpid())
	_ = exec.Command("docker", "rm", "-f", name).Run()
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	idb, err := exec.Command("docker", "run", "-d", "--name", name, e2e.TestImage, "sleep", "600").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v: %s", err, idb)
	}
	id := strings.TrimSpace(string(idb))

	// The container's audit watches follow its start; retry the read until
	// the alert arrives.
	var alert falcotest.Alert
	found := waitFor(40*time.Second, func() bool {
		if b, err := exec.Command("docker", "exec", name, "cat", "/etc/shadow").CombinedOutput(); err != nil {
			t.Fatalf("docker exec cat /etc/shadow: %v: %s", err, b)
		}
		return waitFor(3*time.Second, func() bool {
			for _, l := range falco.Lines() {
				a, err := falcotest.ParseAlert(l)
				if err == nil && a.Rule == "Ruled read sensitive file untrusted" && a.OutputFields["ruled.container.name"] == name {
					alert = a
					return true
				}
			}
			return false
		})
	})
	if !found {
		t.Fatalf("no Falco alert for cat /etc/shadow in container %s; Falco printed:\n%s", name, bytes.Join(falco.Lines(), []byte("\n")))
	}
	for k, want := range map[string]string{"ruled.file.path": "/etc/shadow", "ruled.proc.name": "cat", "ruled.proc.cmdline": "cat /etc/shadow"} {
		if got := alert.OutputFields[k]; got != want {
			t.Errorf("alert %s = %v, want %s", k, got, want)
		}
	}
	if alert.Source != "ruled" || alert.Priority != "Warning" || !strings.Contains(alert.Output, "container="+name) {
		t.Errorf("alert %+v: want source ruled, priority Warning, container=%s in the output", alert, name)
	}
	t.Logf("container %s (%.12s): %s", name, id, alert.Output)

	if code, err := falco.Stop(30 * time.Second); err != nil || code != 0 {
		t.Errorf("falco after SIGTERM: exit %d, %v", code, err)
	}
	after := e2e.ReadAuditState(t)
	for _, d := range before.Diff(after) {
		t.Errorf("audit state not restored after Falco stopped: %s", d)
	}
}

func waitFor(d time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
