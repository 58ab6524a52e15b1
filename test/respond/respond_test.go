package respond

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/inspect"
	"github.com/ruled/ruled/test/e2e"
)

const config = `outputs:
  - json
  - file:%s
stats_interval: 1h
responses:
  - name: contain reverse shells
    rules: ["Reverse shell"]
    actions: [commit, disconnect, pause]
  - name: rehearse kill
    tags: [shell]
    min_priority: critical
    actions: [stop, kill]
    dry_run: true
  # Runs after the first entry paused the victim: its pause fails, and
  # the commit after it still runs.
  - name: second look
    rules: ["Reverse shell"]
    actions: [pause, commit]
`

// reverseShell runs in the victim: a listener on the container's own
// loopback and nc -e /bin/sh connecting to it, held open.
const reverseShell = "sleep 1000 | nc -l -p 4444 & sleep 0.3; nc 127.0.0.1 4444 -e /bin/sh"

// run starts a container on the default bridge; it and any evidence image
// of it are removed when the test ends, even on failure.
func run(t *testing.T, name string) string {
	t.Helper()
	_ = exec.Command("docker", "rm", "-f", name).Run()
	id := e2e.Docker(t, "run", "-d", "--name", name, e2e.TestImage, "sleep", "1000")
	t.Cleanup(func() {
		_ = exec.Command("docker", "unpause", id).Run() // rm -f refuses some paused containers
		if out, err := exec.Command("docker", "rm", "-f", id).CombinedOutput(); err != nil {
			t.Logf("docker rm -f %s: %v\n%s", name, err, out)
		}
		for _, img := range evidence(t, id) {
			if out, err := exec.Command("docker", "rmi", "-f", img).CombinedOutput(); err != nil {
				t.Logf("docker rmi %s: %v\n%s", img, err, out)
			}
		}
	})
	return id
}

// evidence lists the evidence images committed of container id.
func evidence(t *testing.T, id string) []string {
	out, err := exec.Command("docker", "images", "-q", "--no-trunc", "--filter", "label=ruled.container.id="+id).Output()
	if err != nil {
		t.Errorf("docker images: %v", err)
	}
	return strings.Fields(string(out))
}

type state struct {
	Running, Paused bool
	Networks        []string
}

func stateOf(t *testing.T, id string) state {
	t.Helper()
	out := e2e.Docker(t, "inspect", "-f", "{{json .State}}|{{json .NetworkSettings.Networks}}", id)
	st, nets, _ := strings.Cut(out, "|")
	var s state
	if err := json.Unmarshal([]byte(st), &s); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(nets), &m)
	for n := range m {
		s.Networks = append(s.Networks, n)
	}
	return s
}

func TestRespond(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)
	e2e.SaveAudit(t)
	dir := t.TempDir()
	alertFile := filepath.Join(dir, "alerts.json")
	cfg := filepath.Join(dir, "ruled.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(config, alertFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	tag := strconv.Itoa(os.Getpid())
	victim := run(t, "ruled-insp-victim-"+tag)
	bystander := run(t, "ruled-insp-bystander-"+tag)

	ag := e2e.StartAgent(t, bin, nil, "-config", cfg)
	ag.WaitLog(t, "ruled running", 60*time.Second)
	ag.WaitLog(t, `msg="response armed" response="contain reverse shells" actions=commit,disconnect,pause dry_run=false`, time.Second)

	// The attack, repeated until the agent (whose sensors may still be
	// warming up) sees one: a matched entry acts once per cool-down anyway.
	var shell e2e.Alert
	deadline := time.Now().Add(40 * time.Second)
	for {
		e2e.Docker(t, "exec", "-d", victim, "sh", "-c", reverseShell)
		found := false
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && !found; time.Sleep(100 * time.Millisecond) {
			for _, a := range ag.Alerts(t) {
				if a.Rule == "Reverse shell" && a.Field("container.id") == victim {
					shell, found = a, true
				}
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) || !ag.Running() {
			t.Fatalf("no Reverse shell alert of the victim; alerts: %+v", ag.Alerts(t))
		}
	}
	_ = shell

	// A reverse shell on the host: detected, never acted on.
	// The listener is perl's: the host's busybox nc cannot bind to loopback only.
	host := exec.Command("sh", "-c", `perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:4455", Listen => 1, ReuseAddr => 1) or die "listen: $!"; $c = $s->accept; sleep 30' & sleep 0.5; busybox nc 127.0.0.1 4455 -e /bin/sh`)
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Process.Kill(); _ = host.Wait() })

	// Every action reported through the outputs, in order, each ok.
	resp := map[string]e2e.Alert{}
	for _, action := range []string{"commit", "disconnect", "pause"} {
		a := ag.WaitAlert(t, 60*time.Second, "response "+action, func(a e2e.Alert) bool {
			return a.Rule == "response: contain reverse shells" && a.Field("response.action") == action
		})
		if a.Field("response.result") != "ok" || a.Field("container.id") != victim || a.Field("response.rule") != "Reverse shell" ||
			a.Priority != "Critical" || a.Field("proc.name") == "" {
			t.Errorf("%s: %+v", action, a)
		}
		resp[action] = a
	}
	for _, action := range []string{"stop", "kill"} {
		a := ag.WaitAlert(t, 10*time.Second, "dry run "+action, func(a e2e.Alert) bool {
			return a.Rule == "response: rehearse kill" && a.Field("response.action") == action
		})
		if a.Field("response.result") != "dry_run" || a.Field("container.id") != victim {
			t.Errorf("dry run %s: %+v", action, a)
		}
	}
	// A failed action is reported, and the next one still runs.
	second := map[string]e2e.Alert{}
	for _, action := range []string{"pause", "commit"} {
		second[action] = ag.WaitAlert(t, 60*time.Second, "second look "+action, func(a e2e.Alert) bool {
			return a.Rule == "response: second look" && a.Field("response.action") == action
		})
	}
	if a := second["pause"]; a.Field("response.result") != "failed" || !strings.Contains(a.Field("response.error"), "already paused") {
		t.Errorf("second pause: %+v, want failed: already paused", a)
	}
	if a := second["commit"]; a.Field("response.result") != "ok" || a.Field("response.image") == resp["commit"].Field("response.image") {
		t.Errorf("commit after the failed pause: %+v", a)
	}
	ag.WaitAlert(t, 10*time.Second, "Reverse shell on the host", func(a e2e.Alert) bool {
		return a.Rule == "Reverse shell" && a.Field("container.id") == "host"
	})

	// What dockerd says: the victim paused (not stopped or killed: the
	// dry run did not act), on no network, with an evidence image.
	if s := stateOf(t, victim); !s.Running || !s.Paused || len(s.Networks) != 0 {
		t.Errorf("victim %+v: want running, paused, no network", s)
	}
	imgs := evidence(t, victim)
	if len(imgs) != 2 {
		t.Fatalf("evidence images of the victim: %q, want 2 (one per committing entry)", imgs)
	}
	ref := resp["commit"].Field("response.image")
	img := e2e.Docker(t, "image", "inspect", "-f", "{{.Id}}", ref)
	if !slices.Contains(imgs, img) || resp["commit"].Field("response.image_id") != img {
		t.Errorf("%s is %s (reported %s), not among the labelled images %q", ref, img, resp["commit"].Field("response.image_id"), imgs)
	}
	labels := e2e.Docker(t, "image", "inspect", "-f", "{{json .Config.Labels}}", img)
	var lab map[string]string
	if err := json.Unmarshal([]byte(labels), &lab); err != nil {
		t.Fatal(err)
	}
	if lab["ruled.rule"] != "Reverse shell" || lab["ruled.container.id"] != victim || lab["ruled.response"] != "contain reverse shells" {
		t.Errorf("evidence labels %v", lab)
	}
	if _, err := time.Parse(time.RFC3339, lab["ruled.time"]); err != nil {
		t.Errorf("ruled.time %q: %v", lab["ruled.time"], err)
	}
	if !regexp.MustCompile(`^ruled-evidence:ruled-insp-victim-\d+-reverse-shell-\d{8}t\d{6}\.\d{3}z$`).MatchString(ref) {
		t.Errorf("evidence image name %q", ref)
	}
	// The second container is untouched.
	if s := stateOf(t, bystander); !s.Running || s.Paused || len(s.Networks) != 1 || s.Networks[0] != "bridge" {
		t.Errorf("bystander %+v: want running on bridge", s)
	}
	if imgs := evidence(t, bystander); len(imgs) != 0 {
		t.Errorf("bystander evidence %q", imgs)
	}

	// ruled inspect finds the running agent's file output by itself and
	// lists the detection and the responses.
	out, err := exec.Command(bin, "inspect", "-json", victim[:12]).CombinedOutput()
	if err != nil {
		t.Fatalf("ruled inspect: %v\n%s", err, out)
	}
	var rep inspect.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rules := map[string]bool{}
	for _, a := range rep.Alerts {
		rules[a.Rule] = true
	}
	if !rules["Reverse shell"] || !rules["response: contain reverse shells"] {
		t.Errorf("inspect alerts %v (notes %q): want the detection and the responses", rules, rep.Notes)
	}
	if rep.Container.State != "paused" || len(rep.Network.Networks) != 0 {
		t.Errorf("inspect: state %q networks %+v", rep.Container.State, rep.Network.Networks)
	}
	// Without the runtime, the pause is read from the freezer cgroup.
	out, err = exec.Command(bin, "inspect", "-json", "-docker", "", victim[:12]).CombinedOutput()
	if err != nil {
		t.Fatalf("ruled inspect -docker '': %v\n%s", err, out)
	}
	rep = inspect.Report{}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Container.From != "proc" || rep.Container.State != "paused" {
		t.Errorf("inspect without the runtime: from %q state %q, want proc and paused", rep.Container.From, rep.Container.State)
	}

	code, err := ag.Stop(20 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("agent stop: code %d, %v", code, err)
	}
	m := regexp.MustCompile(`msg="response stats" matched=(\d+) actions=(\d+) failed=(\d+) host_skipped=(\d+)`).FindStringSubmatch(ag.Log())
	if m == nil {
		t.Fatalf("no response stats in the log")
	}
	if m[3] != "1" || m[4] == "0" {
		t.Errorf("response stats %s: want the one failed pause and the host reverse shell skipped", m[0])
	}
	// The file output got the responses too.
	b, err := os.ReadFile(alertFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"rule":"response: contain reverse shells"`); n != 3 {
		t.Errorf("%d response alerts in the file output, want 3", n)
	}
}
