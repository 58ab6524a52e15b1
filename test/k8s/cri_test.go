package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/test/e2e"
)

const podRules = `- rule: Cat in the test namespace
  desc: a process named cat ran in a pod of the test namespace
  condition: evt.type == "execve" and evt.success and k8s.ns.name == "ruled-k8s-test" and proc.name == "cat"
  output: cat in pod (pod=%k8s.pod.name ns=%k8s.ns.name uid=%k8s.pod.uid container=%container.name image=%container.image runtime=%container.runtime)
  priority: WARNING
`

// TestCRIPodRule: a rule on k8s.ns.name fires in the live agent for a
// process of a pod that a real containerd runs through its CRI plugin, and
// the alert names the pod, its namespace and uid, the container and image
// as the CRI API reported them. The agent finds the CRI socket from its
// config; Docker's socket is asked too and does not know the container.
func TestCRIPodRule(t *testing.T) {
	c := startContainerd(t)

	// The client alone first: Inspect of the container and of its sandbox.
	cri, err := container.NewCRI(c.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer cri.Close()
	p := c.runPod(t, "ruled-cri-pod", "ruled-k8s-test", "while :; do /bin/cat /etc/hostname >/dev/null; sleep 0.3; done", false)
	priv := c.runPod(t, "ruled-cri-priv", "ruled-k8s-test", "sleep 60", true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := cri.Inspect(ctx, p.ContainerID)
	if err != nil {
		t.Fatalf("Inspect container: %v", err)
	}
	want := container.Info{ID: p.ContainerID, Name: "app", Image: criBusybox, Runtime: event.RuntimeContainerd,
		PodName: p.Name, PodNS: p.Namespace, PodUID: p.UID}
	if info.ID != want.ID || info.Name != want.Name || info.Image != want.Image || info.Runtime != want.Runtime ||
		info.PodName != want.PodName || info.PodNS != want.PodNS || info.PodUID != want.PodUID || info.Privileged {
		t.Errorf("Inspect container:\n got %+v\nwant %+v", info, want)
	}
	if !strings.HasPrefix(info.ImageID, "sha256:") || info.Labels["tier"] != "test" {
		t.Errorf("Inspect container: image id %q, labels %v", info.ImageID, info.Labels)
	}
	sb, err := cri.Inspect(ctx, p.SandboxID)
	if err != nil || sb.PodName != p.Name || sb.PodNS != p.Namespace || sb.Labels["app"] != p.Name {
		t.Errorf("Inspect sandbox: %+v, %v", sb, err)
	}
	if pi, err := cri.Inspect(ctx, priv.ContainerID); err != nil || !pi.Privileged || pi.PodName != priv.Name {
		t.Errorf("Inspect privileged container: %+v, %v; want privileged in pod %s", pi, err, priv.Name)
	}
	if _, err := cri.Inspect(ctx, strings.Repeat("ab", 32)); !errorsIsNotFound(err) {
		t.Errorf("Inspect unknown id: %v, want ErrNotFound", err)
	}

	// ruled ps names the pod's container from the CRI runtime.
	out, err := exec.Command(e2e.RuledBinary(t), "ps", "-json", "-cri", c.socket).Output()
	if err != nil {
		t.Fatalf("ruled ps: %v", err)
	}
	named := false
	for _, l := range strings.Split(string(out), "\n") {
		var row struct {
			Container string `json:"container_id"`
			Name      string `json:"container_name"`
		}
		if json.Unmarshal([]byte(l), &row) == nil && row.Container == p.ContainerID {
			if row.Name != "app" {
				t.Errorf("ruled ps: container %s named %q, want app", p.ContainerID[:12], row.Name)
			}
			named = true
		}
	}
	if !named {
		t.Errorf("ruled ps lists no process of container %s:\n%s", p.ContainerID[:12], out)
	}

	// The live agent, with the rule above and the CRI socket in its config.
	a := c.startAgent(t)
	al := a.WaitAlert(t, 20*time.Second, "for cat in the CRI pod", func(al e2e.Alert) bool {
		return al.Rule == "Cat in the test namespace" && al.Field("container.id") == p.ContainerID
	})
	for k, v := range map[string]string{
		"k8s.pod.name": p.Name, "k8s.ns.name": p.Namespace, "k8s.pod.uid": p.UID,
		"container.name": "app", "container.image": criBusybox, "container.runtime": event.RuntimeContainerd,
	} {
		if got := al.Field(k); got != v {
			t.Errorf("alert %s = %q, want %q (output %q)", k, got, v, al.Output)
		}
	}
	if !strings.Contains(a.Log(), "cri runtime") {
		t.Errorf("agent did not log the CRI runtime it uses")
	}
}

// startAgent runs a live agent with podRules and this containerd's CRI
// socket in its config, and waits until it is running; it is stopped, and
// must exit 0, when the test ends.
func (c *containerd) startAgent(t *testing.T) *e2e.Agent {
	t.Helper()
	dir := t.TempDir()
	rules := filepath.Join(dir, "pod.yaml")
	cfg := filepath.Join(dir, "ruled.yaml")
	if err := os.WriteFile(rules, []byte(podRules), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("cri:\n  socket: "+c.socket+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e2e.SaveAudit(t)
	a := e2e.StartAgent(t, e2e.RuledBinary(t), nil, "-config", cfg, "-rules", rules, "-output", "json")
	t.Cleanup(func() {
		if code, err := a.Stop(20 * time.Second); code != 0 || err != nil {
			t.Errorf("ruled exit %d, %v", code, err)
		}
	})
	a.WaitLog(t, "ruled running", 30*time.Second)
	return a
}

func errorsIsNotFound(err error) bool {
	return errors.Is(err, container.ErrNotFound)
}

// TestCRIOutage: containerd stops under a running agent. Events keep
// flowing, with the pod's names learnt before; the agent logs the outage;
// once containerd is back, a new pod's container is named again.
func TestCRIOutage(t *testing.T) {
	c := startContainerd(t)
	loop := "while :; do /bin/cat /etc/hostname >/dev/null; sleep 0.3; done"
	before := c.runPod(t, "ruled-cri-before", "ruled-k8s-test", loop, false)
	a := c.startAgent(t)
	inPod := func(p pod) func(e2e.Alert) bool {
		return func(al e2e.Alert) bool {
			return al.Field("container.id") == p.ContainerID && al.Field("k8s.pod.name") == p.Name
		}
	}
	a.WaitAlert(t, 20*time.Second, "in the first pod", inPod(before))

	c.stop()
	a.WaitLog(t, "container runtime unreachable", 20*time.Second)
	seen := len(a.Alerts(t))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if slices.ContainsFunc(a.Alerts(t)[seen:], inPod(before)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no alert with the first pod's names while containerd was down")
		}
	}

	c.launch(t)
	a.WaitLog(t, "container runtime reachable again", 30*time.Second)
	after := c.runPod(t, "ruled-cri-after", "ruled-k8s-test", loop, false)
	al := a.WaitAlert(t, 20*time.Second, "in a pod started after containerd came back", inPod(after))
	if al.Field("k8s.pod.uid") != after.UID || al.Field("container.name") != "app" {
		t.Errorf("alert after the outage: %s", al.Output)
	}
}
