// Package netns lists the sockets of network namespaces and joins them to
// processes.
//
// Every network namespace has its own socket tables; /proc/net/tcp only
// shows the reader's. ParseTable reads one of /proc/PID/net/{tcp,tcp6,udp,
// udp6} (the kernel's tcp4_seq_show / udp4_format_sock format), Cache keeps
// one parsed table per namespace (keyed by the inode of /proc/PID/ns/net)
// for a short time, because the read costs milliseconds even for a nearly
// empty namespace, and Snapshot walks every process of the host for
// ruled netstat.
package netns
