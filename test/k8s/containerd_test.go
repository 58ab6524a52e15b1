package k8s

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/ruled/ruled/test/e2e"
)

// pauseImage is the pod sandbox image: the busybox test image sleeping, so
// the sandbox's namespaces live as long as the pod (registry.k8s.io/pause
// cannot be pulled here).
const (
	pauseImage   = "ruled-test-pause:latest"
	criPause     = "docker.io/library/" + pauseImage
	criBusybox   = "docker.io/library/" + e2e.TestImage
	testCgroupNS = "kubepods"
	runcWrapper  = "/usr/local/lib/ruled-test-runc"
)

// containerd is a private containerd with its CRI plugin.
type containerd struct {
	dir    string
	socket string
	cmd    *exec.Cmd
	conn   *grpc.ClientConn
	rs     runtimeapi.RuntimeServiceClient
}

// startContainerd runs Debian's containerd with its own config, root, state
// and socket (Docker's containerd is left alone), imports the busybox test
// image and a pause image built from it offline, and stops it (and removes
// everything it left) when the test ends.
func startContainerd(t *testing.T) *containerd {
	t.Helper()
	e2e.RequireDocker(t)
	if _, err := exec.LookPath("containerd"); err != nil {
		e2e.Unavailable(t, "containerd not installed (test/setup.sh installs it with docker.io): %v", err)
	}
	if _, err := os.Stat(runcWrapper); err != nil {
		e2e.Unavailable(t, "runc wrapper missing (test/setup.sh builds it): %v", err)
	}
	dir, err := os.MkdirTemp("", "ruled-k8s-")
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{dir: dir, socket: filepath.Join(dir, "containerd.sock")}
	t.Cleanup(c.cleanup(t))
	cfg := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = "%[3]s.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[4]q
  # A VM's init may withhold CAP_SYS_RESOURCE, which lowering a pause
  # container's oom_score_adj (-998) needs: keep the inherited value.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "%[5]s/runc"
        # test/setup.sh's runc wrapper: a privileged container asks for
        # every capability, and a VM's init may withhold some.
        BinaryName = %[6]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "%[5]s/cni/bin"
    conf_dir = "%[5]s/cni/conf"
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.socket, criPause, dir, runcWrapper)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("unix://"+c.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c.conn = conn
	c.rs = runtimeapi.NewRuntimeServiceClient(conn)
	c.launch(t)
	c.importImages(t)
	return c
}

// launch starts containerd and waits until its CRI plugin answers.
func (c *containerd) launch(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.dir, "containerd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command("containerd", "--config", filepath.Join(c.dir, "config.toml"))
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	logf.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.rs.Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd CRI not answering on %s: %v\n%s", c.socket, err, c.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop stops containerd (its shims and containers keep running, as on a
// node whose runtime restarts).
func (c *containerd) stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	c.cmd = nil
}

func (c *containerd) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "containerd.log"))
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// importImages builds the pause image (docker build from the local busybox
// image, no pull) and imports both into the CRI namespace with ctr.
func (c *containerd) importImages(t *testing.T) {
	t.Helper()
	build := exec.Command("docker", "build", "-q", "-t", pauseImage, "-")
	build.Stdin = strings.NewReader("FROM " + e2e.TestImage + "\nENTRYPOINT [\"/bin/sleep\", \"2147483647\"]\n")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", pauseImage, err, out)
	}
	tar := filepath.Join(c.dir, "images.tar")
	if out, err := exec.Command("docker", "save", "-o", tar, pauseImage, e2e.TestImage).CombinedOutput(); err != nil {
		t.Fatalf("docker save: %v\n%s", err, out)
	}
	if out, err := exec.Command("ctr", "-a", c.socket, "-n", "k8s.io", "images", "import", tar).CombinedOutput(); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
}

// cleanup removes the pods, stops containerd and its shims, unmounts what
// it left under its directories and removes them and the pod cgroups.
func (c *containerd) cleanup(t *testing.T) func() {
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c.rs != nil {
			if l, err := c.rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); err == nil {
				for _, s := range l.GetItems() {
					if _, err := c.rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.GetId()}); err != nil {
						t.Logf("stop pod %s: %v", s.GetId(), err)
					}
					if _, err := c.rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.GetId()}); err != nil {
						t.Logf("remove pod %s: %v", s.GetId(), err)
					}
				}
			}
		}
		c.stop()
		killShims(t, c.socket)
		if c.conn != nil {
			c.conn.Close()
		}
		unmountUnder(t, c.dir)
		if err := os.RemoveAll(c.dir); err != nil {
			t.Logf("remove %s: %v", c.dir, err)
		}
		removePodCgroups(t)
	}
}

// killShims kills what survived containerd's stop: its shims (their command
// line names the test's socket) and the containers they ran, which a
// failed pod removal leaves.
func killShims(t *testing.T, socket string) {
	pids, _ := e2e.PIDs()
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if err != nil || !strings.Contains(string(b), socket) {
			continue
		}
		t.Logf("killing leftover shim %d", pid)
		// The shim is its containers' subreaper: kill them first.
		if kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
			for _, k := range strings.Fields(string(kids)) {
				if kp, err := strconv.Atoi(k); err == nil {
					_ = syscall.Kill(kp, syscall.SIGKILL)
				}
			}
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// unmountUnder unmounts every mount point below dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Logf("mountinfo: %v", err)
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", p, err)
		}
	}
}

// removePodCgroups removes the test pods' cgroups (runc leaves the parents
// it created), deepest first; directories still in use stay.
func removePodCgroups(t *testing.T) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + testCgroupNS + "/ruled-test")
	if d := "/sys/fs/cgroup/" + testCgroupNS + "/ruled-test"; dirExists(d) {
		roots = append(roots, d)
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil {
				t.Logf("remove cgroup %s: %v", dirs[i], err)
			}
		}
		_ = os.Remove(filepath.Dir(root)) // kubepods, only when empty
	}
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// pod is one sandbox with one container in it.
type pod struct {
	Name, Namespace, UID string
	SandboxID            string
	ContainerID          string
}

// runPod creates a pod sandbox on the host network (no CNI here) under
// /kubepods/ruled-test/pod<uid> and starts one busybox container named
// "app" running script in it.
func (c *containerd) runPod(t *testing.T, name, namespace, script string, privileged bool) pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := pod{Name: name, Namespace: namespace, UID: fmt.Sprintf("0f1e2d3c-%04x-4b5a-8c7d-%012x", os.Getpid()&0xffff, time.Now().UnixNano()&0xffffffffffff)}
	sc := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: namespace, Uid: p.UID},
		Labels:   map[string]string{"app": name},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/" + testCgroupNS + "/ruled-test/pod" + p.UID,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
				Privileged:       privileged,
			},
		},
	}
	rp, err := c.rs.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sc})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v\n%s", err, c.log())
	}
	p.SandboxID = rp.GetPodSandboxId()
	cc, err := c.rs.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId:  p.SandboxID,
		SandboxConfig: sc,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
			Image:    &runtimeapi.ImageSpec{Image: criBusybox},
			Command:  []string{"/bin/sh", "-c", script},
			Labels:   map[string]string{"tier": "test"},
			Linux: &runtimeapi.LinuxContainerConfig{
				SecurityContext: &runtimeapi.LinuxContainerSecurityContext{Privileged: privileged},
			},
		},
	})
	if err != nil {
		t.Fatalf("CreateContainer: %v\n%s", err, c.log())
	}
	p.ContainerID = cc.GetContainerId()
	if _, err := c.rs.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: p.ContainerID}); err != nil {
		t.Fatalf("StartContainer: %v\n%s", err, c.log())
	}
	return p
}
