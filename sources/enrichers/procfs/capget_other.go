//go:build !linux

package procfs

// liveCapget: capget(2) is Linux only; capabilities come from status.
func liveCapget(Dir) func(pid int) (eff, prm, inh uint64, err error) { return nil }
