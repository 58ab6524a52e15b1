package k8s

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ruled/ruled/test/e2e"
)

// manifest is the part of deploy/kubernetes/ruled.yaml the test checks.
type manifest struct {
	Kind     string                `yaml:"kind"`
	Metadata struct{ Name string } `yaml:"metadata"`
	Data     map[string]string     `yaml:"data"`
	Spec     struct {
		Template struct {
			Metadata struct {
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				HostPID     bool `yaml:"hostPID"`
				HostNetwork bool `yaml:"hostNetwork"`
				Containers  []struct {
					Args  []string `yaml:"args"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					SecurityContext struct {
						Privileged   bool `yaml:"privileged"`
						Capabilities struct {
							Add  []string `yaml:"add"`
							Drop []string `yaml:"drop"`
						} `yaml:"capabilities"`
					} `yaml:"securityContext"`
					Resources struct {
						Requests map[string]string `yaml:"requests"`
						Limits   map[string]string `yaml:"limits"`
					} `yaml:"resources"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestDaemonSetManifest: the DaemonSet runs in the host pid and network
// namespaces without privileged mode and with exactly the capabilities the
// image test runs with, mounts the CRI sockets' directories and the
// recovery state, declares requests, and exposes the metrics port its
// config serves on; the config map's config and local rules load in the
// real agent.
func TestDaemonSetManifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "kubernetes", "ruled.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]manifest{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var m manifest
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("manifest: %v", err)
		}
		docs[m.Kind+"/"+m.Metadata.Name] = m
	}
	ds, ok := docs["DaemonSet/ruled"]
	if !ok || len(ds.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("no DaemonSet ruled with one container: %v", docs)
	}
	pod := ds.Spec.Template.Spec
	c := pod.Containers[0]
	if !pod.HostPID || !pod.HostNetwork || c.SecurityContext.Privileged {
		t.Errorf("hostPID %v hostNetwork %v privileged %v: want host namespaces, not privileged", pod.HostPID, pod.HostNetwork, c.SecurityContext.Privileged)
	}
	add := slices.Sorted(slices.Values(c.SecurityContext.Capabilities.Add))
	if want := slices.Sorted(slices.Values(imageCaps)); !slices.Equal(add, want) || !slices.Equal(c.SecurityContext.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities add %v drop %v, want add %v drop [ALL]", add, c.SecurityContext.Capabilities.Drop, want)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	mounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = true
	}
	for _, p := range []string{"/run/containerd", "/var/run/crio", "/run/ruled", "/etc/ruled/ruled.yaml", "/etc/ruled/rules.d"} {
		if !mounts[p] {
			t.Errorf("no volume mounted at %s", p)
		}
	}

	cfg := docs["ConfigMap/ruled-config"].Data["ruled.yaml"]
	local := docs["ConfigMap/ruled-rules"].Data["local.yaml"]
	if cfg == "" || local == "" {
		t.Fatal("config maps ruled-config (ruled.yaml) and ruled-rules (local.yaml) missing")
	}
	port := ""
	if len(c.Ports) == 1 && c.Ports[0].Name == "metrics" {
		port = strconv.Itoa(c.Ports[0].ContainerPort)
	}
	if ann := ds.Spec.Template.Metadata.Annotations["prometheus.io/port"]; port == "" || ann != port || !strings.Contains(cfg, "addr: 0.0.0.0:"+port+"\n") {
		t.Errorf("metrics: container port %q, annotation %q and the config's metrics.addr must agree:\n%s", port, ann, cfg)
	}

	// The config and the local rules, as mounted, load in the agent.
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules.d")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rulesDir, "local.yaml"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "ruled.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(cfg, "/etc/ruled/rules.d", rulesDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(slices.Clone(c.Args), "-replay", empty, "-metrics-addr", "127.0.0.1:0")
	args[slices.Index(args, "/etc/ruled/ruled.yaml")] = cfgPath
	if out, err := exec.Command(e2e.RuledBinary(t), args...).CombinedOutput(); err != nil || !strings.Contains(string(out), "rules loaded") {
		t.Errorf("ruled %v: %v\n%s", args, err, out)
	}
}
