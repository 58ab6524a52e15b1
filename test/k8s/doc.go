// Package k8s tests ruled on a Kubernetes-style node: a real containerd with
// its CRI plugin, run by the test with its own root, state and socket beside
// Docker's, pods and containers created through the CRI API from images
// imported offline; and the packaging in deploy/ (systemd unit, container
// image, logrotate snippet). Root and CI rules as in test/e2e.
package k8s
