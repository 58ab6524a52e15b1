package falcolang

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

// The live agent runs a Falco-language rules file: a host exec seen by the
// proc connector raises the Falco rule's alert, with Falco's field meanings
// in the output. Root; hold /tmp/ruled-kernel.lock when running it by hand.
func TestAgentRunsFalcoLanguageRules(t *testing.T) {
	e2e.RequireRoot(t)
	bin := e2e.RuledBinary(t)
	dir := t.TempDir()
	// A copy of sleep under a name of our own, so only our exec matches.
	probe := filepath.Join(dir, "falcolangprobe")
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(probe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "falco-language.yaml")
	if err := os.WriteFile(rules, []byte(`- macro: spawned_process
  condition: evt.type in (execve, execveat)
- list: probes
  items: [falcolangprobe]
- rule: Probe started
  desc: the test's probe program, in Falco's language
  condition: spawned_process and proc.name in (probes) and container.id = host and proc.args startswith "1."
  output: probe %proc.cmdline (exe=%proc.exe exepath=%proc.exepath args=%proc.args)
  priority: WARNING
  source: syscall
`), 0o644); err != nil {
		t.Fatal(err)
	}
	a := e2e.StartAgent(t, bin, nil, "-sources", "procconn", "-rules", rules, "-output", "json", "-log-level", "info")
	a.WaitLog(t, "ruled running", 20*time.Second)
	if log := a.Log(); !strings.Contains(log, `msg="falco-language rules" active=1 rules=1`) {
		t.Errorf("start-up log lacks the Falco-language count:\n%s", log)
	}
	// It lives a moment, so /proc still has it when its exec is seen.
	if out, err := exec.Command(probe, "1.5").CombinedOutput(); err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	got := a.WaitAlert(t, 10*time.Second, "Probe started", func(al e2e.Alert) bool { return al.Rule == "Probe started" })
	want := fmt.Sprintf("probe falcolangprobe 1.5 (exe=%s exepath=%s args=1.5)", probe, probe)
	if got.Output != want && !strings.HasSuffix(got.Output, want) {
		t.Errorf("output %q, want %q", got.Output, want)
	}
	if code, err := a.Stop(20 * time.Second); code != 0 || err != nil {
		t.Errorf("ruled exit after SIGTERM: %d, %v", code, err)
	}
}
