package inspect

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/inspect"
	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/test/e2e"
)

// victimScript drops, deletes and installs files, then runs a reverse
// shell to a listener on the container's own loopback (traffic never
// leaves the container) and keeps it open.
const victimScript = `rm /bin/vi
echo payload > /tmp/dropped
cp /bin/busybox /tmp/implant
mkdir -p /var/lib/dpkg
printf 'Package: ruled-test-pkg\nStatus: install ok installed\nVersion: 4.2-1\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n' > /var/lib/dpkg/status
sleep 1000 | nc -l -p 4444 &
sleep 0.3
nc 127.0.0.1 4444 -e /bin/sh &
exec sleep 1000`

type ctr struct {
	id, name string
	pid      int
	ip       string
}

// runVictim starts the container and removes it when the test ends.
func runVictim(t *testing.T, bind string) ctr {
	t.Helper()
	name := fmt.Sprintf("ruled-insp-victim-%d", os.Getpid())
	_ = exec.Command("docker", "rm", "-f", name).Run()
	id := e2e.Docker(t, "run", "-d", "--name", name,
		"--label", "ruled.test=inspect",
		"--label", "io.kubernetes.pod.name=web-7d9f", "--label", "io.kubernetes.pod.namespace=shop",
		"-v", bind+":/data", "-v", "/etc:/host/etc:ro",
		e2e.TestImage, "sh", "-c", victimScript)
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "rm", "-f", id).CombinedOutput(); err != nil {
			t.Logf("docker rm -f %s: %v\n%s", name, err, out)
		}
	})
	pid, err := strconv.Atoi(e2e.Docker(t, "inspect", "-f", "{{.State.Pid}}", id))
	if err != nil {
		t.Fatal(err)
	}
	ip := e2e.Docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id)
	return ctr{id: id, name: name, pid: pid, ip: ip}
}

func runInspect(t *testing.T, bin string, args ...string) *inspect.Report {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"inspect", "-json"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ruled inspect %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	// Every top-level key the issue lists is present.
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(out, &keys); err != nil {
		t.Fatalf("inspect output is not one JSON document: %v\n%s", err, out)
	}
	for _, k := range []string{"container", "processes", "sockets", "network", "changes", "mounts", "packages", "alerts"} {
		if v, ok := keys[k]; !ok || string(v) == "null" {
			t.Errorf("key %s missing or null", k)
		}
	}
	var r inspect.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// shellPID waits for the reverse shell: the container's sh whose stdin is
// a socket.
func shellPID(t *testing.T, c ctr) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// The script's last step: init becomes sleep.
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.pid)); string(b) != "sleep\x001000\x00" {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		pids, _ := e2e.PIDs()
		for _, pid := range pids {
			dir := filepath.Join("/proc", strconv.Itoa(pid))
			if b, _ := os.ReadFile(filepath.Join(dir, "cmdline")); string(b) != "/bin/sh\x00" {
				continue
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "cgroup")); !strings.Contains(string(b), c.id) {
				continue
			}
			if l, _ := os.Readlink(filepath.Join(dir, "fd", "0")); strings.HasPrefix(l, "socket:") {
				return pid
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the container's reverse shell did not start")
	return 0
}

func TestInspect(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)
	bind := t.TempDir()
	c := runVictim(t, bind)
	sh := shellPID(t, c)
	if c.ip == "" {
		t.Fatal("the container has no IP on the default bridge")
	}

	// An alert file as the agent's file output writes it: one alert of
	// this container, one of another.
	alerts := filepath.Join(t.TempDir(), "alerts.json")
	line := func(id, rule string) string {
		return fmt.Sprintf(`{"time":"%s","rule":%q,"priority":"Critical","output":"x","output_fields":{"container.id":%q},"source":"ruled","tags":[],"hostname":"h"}`,
			time.Now().UTC().Format(time.RFC3339Nano), rule, id)
	}
	other := strings.Repeat("ab", 32)
	if err := os.WriteFile(alerts, []byte(line(other, "Elsewhere")+"\n"+line(c.id, "Reverse shell")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := runInspect(t, bin, "-alerts", alerts, c.name)
	checkContainer(t, r, c)
	checkProcesses(t, r, c, sh)
	checkSockets(t, r, sh)
	veth := checkNetwork(t, r, c)
	checkChanges(t, r)
	checkMounts(t, r, bind)
	checkPackages(t, r)
	if len(r.Alerts) != 1 || r.Alerts[0].Rule != "Reverse shell" {
		t.Errorf("alerts %+v, want the one Reverse shell alert of this container", r.Alerts)
	}

	// The other ways to name the container.
	for _, target := range []string{c.id[:10], strconv.Itoa(sh), c.ip, veth} {
		if got := runInspect(t, bin, "-alerts", alerts, target); got.Container.ID != c.id {
			t.Errorf("inspect %s: container %q, want %s", target, got.Container.ID, c.id)
		}
	}

	// The runtime unreachable: no dockerd listens on this socket, which is
	// what the client sees when dockerd is down (this dockerd has no
	// live-restore: stopping it would kill the container under test and
	// every other test's). Identity, processes, sockets, network, changes,
	// mounts and packages still come from /proc and the cgroup.
	down := runInspect(t, bin, "-docker", filepath.Join(t.TempDir(), "no-dockerd.sock"), "-alerts", alerts, c.id[:12])
	if down.Container.ID != c.id || down.Container.From != "proc" || down.Container.Runtime != "docker" || down.Container.Name != "" {
		t.Errorf("daemon down: container %+v", down.Container)
	}
	if down.Container.InitPID != c.pid || down.Container.Privileged != nil || down.Container.Started.IsZero() {
		t.Errorf("daemon down: init %d (want %d) privileged %v started %v", down.Container.InitPID, c.pid, down.Container.Privileged, down.Container.Started)
	}
	if !slices.ContainsFunc(down.Notes, func(n string) bool { return strings.Contains(n, "runtime not reachable") }) {
		t.Errorf("daemon down: no note says so: %q", down.Notes)
	}
	checkProcesses(t, down, c, sh)
	checkSockets(t, down, sh)
	if got := checkNetwork(t, down, c); got != veth {
		t.Errorf("daemon down: host veth %q, want %q", got, veth)
	}
	checkChanges(t, down)
	checkMounts(t, down, bind)
	checkPackages(t, down)
	if len(down.Alerts) != 1 {
		t.Errorf("daemon down: alerts %+v", down.Alerts)
	}
	for _, target := range []string{strconv.Itoa(sh), c.ip, veth} {
		if got := runInspect(t, bin, "-docker", "/nonexistent/docker.sock", target); got.Container.ID != c.id {
			t.Errorf("daemon down: inspect %s: container %q", target, got.Container.ID)
		}
	}
	// A name needs the runtime: without it, inspect says no container.
	if out, err := exec.Command(bin, "inspect", "-docker", "/nonexistent/docker.sock", c.name).CombinedOutput(); err == nil {
		t.Errorf("daemon down: inspect by name succeeded: %s", out)
	}
}

func checkContainer(t *testing.T, r *inspect.Report, c ctr) {
	t.Helper()
	k := r.Container
	if k.ID != c.id || k.Name != c.name || k.Image != e2e.TestImage || !strings.HasPrefix(k.ImageID, "sha256:") ||
		k.Runtime != "docker" || k.State != "running" || k.From != "runtime" {
		t.Errorf("container identity: %+v", k)
	}
	if k.Created.IsZero() || k.Started.IsZero() || k.Started.Before(k.Created) {
		t.Errorf("created %v started %v", k.Created, k.Started)
	}
	if k.Privileged == nil || *k.Privileged || k.CapAdd == nil || len(k.CapAdd) != 0 {
		t.Errorf("privileged %v cap_add %v", k.Privileged, k.CapAdd)
	}
	if !slices.Contains(k.CapEffective, "NET_RAW") || slices.Contains(k.CapEffective, "SYS_ADMIN") {
		t.Errorf("cap_effective %v: want Docker's default set", k.CapEffective)
	}
	hostPIDNS, _ := os.Readlink("/proc/self/ns/pid")
	if k.PIDNamespace == 0 || fmt.Sprintf("pid:[%d]", k.PIDNamespace) == hostPIDNS {
		t.Errorf("pid namespace %d (host %s)", k.PIDNamespace, hostPIDNS)
	}
	if k.InitPID != c.pid {
		t.Errorf("init pid %d, want %d", k.InitPID, c.pid)
	}
	if k.Labels["ruled.test"] != "inspect" || k.K8sPod != "web-7d9f" || k.K8sNamespace != "shop" {
		t.Errorf("labels %v pod %q ns %q", k.Labels, k.K8sPod, k.K8sNamespace)
	}
}

func checkProcesses(t *testing.T, r *inspect.Report, c ctr, sh int) {
	t.Helper()
	var init, shell *inspect.Process
	for i, p := range r.Processes {
		switch p.PID {
		case c.pid:
			init = &r.Processes[i]
		case sh:
			shell = &r.Processes[i]
		}
	}
	if init == nil || shell == nil {
		t.Fatalf("processes %+v: want init %d and shell %d", r.Processes, c.pid, sh)
	}
	if init.VPID != 1 || init.Depth != 0 || init.Exe != "/bin/busybox" || init.Cmdline != "sleep 1000" || init.User != "root" || init.Started.IsZero() {
		t.Errorf("init %+v", init)
	}
	if shell.PPID != c.pid || shell.Depth != 1 || shell.VPID <= 1 || shell.Cmdline != "/bin/sh" {
		t.Errorf("shell %+v", shell)
	}
	for name, s := range map[string]any{"stdin": shell.Stdin, "stdout": shell.Stdout} {
		if s == nil {
			t.Errorf("shell %s: not reported as a socket", name)
		}
	}
	if shell.Stdin != nil && (shell.Stdin.Type != "socket" || shell.Stdin.L4Proto != "tcp" || shell.Stdin.RIP != "127.0.0.1" || shell.Stdin.RPort != 4444) {
		t.Errorf("shell stdin %+v, want a TCP socket to 127.0.0.1:4444", shell.Stdin)
	}
	if init.Stdin != nil {
		t.Errorf("init stdin %+v: not a socket, must be omitted", init.Stdin)
	}
}

func checkSockets(t *testing.T, r *inspect.Report, sh int) {
	t.Helper()
	var est, accepted bool
	for _, s := range r.Sockets {
		if s.State == "ESTABLISHED" && s.Remote == "127.0.0.1:4444" && s.PID == sh && s.Exe == "/bin/busybox" && s.Inode != 0 && strings.HasPrefix(s.Proto, "tcp") {
			est = true
		}
		// busybox nc -l closes its listening socket once it accepted.
		if s.State == "ESTABLISHED" && strings.HasSuffix(s.Local, ":4444") && s.PID != 0 && s.PID != sh {
			accepted = true
		}
	}
	if !est || !accepted {
		t.Errorf("sockets %+v: want the shell's ESTABLISHED socket to 127.0.0.1:4444 (pid %d) and the listener's accepted end", r.Sockets, sh)
	}
}

// checkNetwork verifies eth0 and its host veth against the host's
// /sys/class/net and returns the veth's name.
func checkNetwork(t *testing.T, r *inspect.Report, c ctr) string {
	t.Helper()
	var eth0 *inspect.Link
	for i, l := range r.Network.Interfaces {
		if l.Name == "eth0" {
			eth0 = &r.Network.Interfaces[i]
		}
	}
	if eth0 == nil {
		t.Fatalf("interfaces %+v: no eth0", r.Network.Interfaces)
	}
	if !slices.Contains(eth0.Addrs, c.ip+"/16") || len(eth0.MAC) != 17 {
		t.Errorf("eth0 %+v, want address %s", eth0, c.ip)
	}
	if eth0.HostVeth == nil {
		t.Fatalf("eth0 has no host veth")
	}
	v := eth0.HostVeth.Name
	ifindex, _ := os.ReadFile("/sys/class/net/" + v + "/ifindex")
	iflink, _ := os.ReadFile("/sys/class/net/" + v + "/iflink")
	if strings.TrimSpace(string(ifindex)) != strconv.Itoa(eth0.IfLink) || strings.TrimSpace(string(iflink)) != strconv.Itoa(eth0.Index) {
		t.Errorf("host veth %s: /sys says ifindex %s iflink %s; eth0 is %d with iflink %d", v, ifindex, iflink, eth0.Index, eth0.IfLink)
	}
	if r.Container.From == "runtime" && !slices.ContainsFunc(r.Network.Networks, func(n container.Network) bool { return n.Name == "bridge" && n.IPAddress == c.ip }) {
		t.Errorf("networks %+v, want bridge with %s", r.Network.Networks, c.ip)
	}
	return v
}

func checkChanges(t *testing.T, r *inspect.Report) {
	t.Helper()
	got := map[string]inspect.Change{}
	for _, ch := range r.Changes {
		got[ch.Path] = ch
	}
	if ch := got["/tmp/dropped"]; ch.Kind != "A" || ch.Size != 8 || ch.Executable || ch.MTime.IsZero() || ch.Mode == "" {
		t.Errorf("/tmp/dropped: %+v", ch)
	}
	if ch := got["/tmp/implant"]; ch.Kind != "A" || !ch.Executable || ch.Size < 100000 {
		t.Errorf("/tmp/implant: %+v", ch)
	}
	if ch := got["/bin/vi"]; ch.Kind != "D" {
		t.Errorf("/bin/vi: %+v, want D (whiteout)", ch)
	}
	if ch := got["/bin"]; ch.Kind != "C" {
		t.Errorf("/bin: %+v, want C", ch)
	}
	if r.Container.UpperDir == "" {
		t.Error("no upper dir")
	}
}

func checkMounts(t *testing.T, r *inspect.Report, bind string) {
	t.Helper()
	got := map[string]inspect.Mount{}
	for _, m := range r.Mounts {
		got[m.Destination] = m
	}
	if m := got["/data"]; m.HostPath != bind || m.Source != bind || m.Sensitive || m.Type == "" || !strings.Contains(m.Options, "rw") {
		t.Errorf("/data: %+v, want host path %s, not sensitive", m, bind)
	}
	if m := got["/host/etc"]; m.HostPath != "/etc" || !m.Sensitive || !strings.HasPrefix(m.Options, "ro") {
		t.Errorf("/host/etc: %+v, want host /etc flagged sensitive", m)
	}
	if m := got["/etc/hosts"]; m.HostPath == "" || m.Sensitive {
		t.Errorf("/etc/hosts: %+v, want the runtime's file, not flagged", m)
	}
	if m := got["/proc"]; m.Type != "proc" || m.HostPath != "" || m.Sensitive {
		t.Errorf("/proc: %+v, want the container's own proc", m)
	}
}

func checkPackages(t *testing.T, r *inspect.Report) {
	t.Helper()
	if len(r.Packages) != 1 || r.Packages[0] != (inspect.Package{Name: "ruled-test-pkg", Version: "4.2-1", Manager: "dpkg"}) {
		t.Errorf("packages %+v, want ruled-test-pkg 4.2-1 (dpkg) only", r.Packages)
	}
}
