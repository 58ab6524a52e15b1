// Package inspect tests `ruled inspect` against real Docker containers: a
// container with a live reverse shell (busybox nc -e on its own loopback), a
// dropped file, a deleted file, a bind mount and a package database, looked
// up by name, id prefix, host pid, IP and host veth, with every key of the
// report checked; and the same container with the runtime unreachable.
// Root only (skips outside root, fails under CI=true).
package inspect
