// Package procconn is the proc connector source: it subscribes to the
// kernel's process events (NETLINK_CONNECTOR, CN_IDX_PROC, see
// include/uapi/linux/cn_proc.h and include/uapi/linux/connector.h) and turns
// fork, exec, exit, uid and comm notifications into events.
//
// The connector tells that something happened and to which pid, not what the
// process is: names, paths and arguments come from /proc (sources/enrichers/proctable)
// or from audit (merged by sources/enrichers/proctable.Merger). Thread creation and
// thread exit are folded into their process: a clone of a thread is not a
// process fork.
//
// parse.go is pure and builds anywhere; the sockets live in conn_linux.go,
// their batched reads (recvmmsg) in recv_linux.go.
package procconn
