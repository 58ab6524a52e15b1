// Package docker holds the end-to-end tests of container attribution and
// network-namespace sockets against the real Docker daemon and the offline
// image test/setup.sh builds. Containers run with --network none: all
// traffic stays on each container's own loopback.
package docker
