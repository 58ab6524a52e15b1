package main

import (
	"strings"
	"testing"
)

func TestCgroupContainerID(t *testing.T) {
	id := strings.Repeat("ab12", 16)
	tests := []struct {
		name, in, want string
	}{
		{"docker cgroupfs v1", "12:pids:/docker/" + id + "\n1:name=systemd:/docker/" + id + "\n", id},
		{"systemd scope", "0::/system.slice/docker-" + id + ".scope\n", id},
		{"containerd", "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + id + ".scope\n", id},
		{"crio", "0::/kubepods/crio-" + id + ".scope\n", id},
		{"podman", "0::/machine.slice/libpod-" + id + ".scope/container\n", id},
		{"host", "0::/user.slice/user-0.slice/session-1.scope\n", "host"},
		{"empty", "", "host"},
		{"not hex", "0::/docker/" + strings.Repeat("zz", 32) + "\n", "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cgroupContainerID(strings.NewReader(tt.in)); got != tt.want {
				t.Errorf("got %q want %q", got, tt.want)
			}
		})
	}
}
