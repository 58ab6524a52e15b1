// Package procfs reads process-level information from /proc: stat, status,
// cmdline, the exe and cwd links, the standard descriptors and namespace
// links (proc(5)). It works over an fs.FS rooted at /proc (os.DirFS("/proc")
// in production, testdata/proc in tests) and reads links through
// fs.ReadLink, so everything is testable without a live kernel.
//
// Cgroup parsing (container ids) and /proc/net tables live in
// sources/enrichers/container and sources/enrichers/netns.
//
// A process that vanished while being read is normal on a busy host: the
// reader reports it with an error matching fs.ErrNotExist (ErrGone), and
// returns what it read before it went.
package procfs
