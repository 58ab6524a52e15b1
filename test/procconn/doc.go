// Package procconn holds the end-to-end tests of the proc connector source,
// the /proc reader and the process table on the real kernel (root), and the
// exec-throughput benchmark of the source.
package procconn
