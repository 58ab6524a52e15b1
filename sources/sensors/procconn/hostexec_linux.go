package procconn

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// A host exec filter is an eBPF socket filter on the proc connector's
// sockets that tells an exec in the host's mount namespace from one in a
// container, in the kernel, as the exec happens. The proc connector sends
// its messages from the exec'ing task, so the program reads that task's
// mount namespace (task->nsproxy->mnt_ns->ns.inum, the offsets from the
// kernel's BTF).
//
// Why: with audit bringing each exec's executable and argv, an exec
// reader woken for a host exec reads nothing but the namespace that says
// there is nothing to read, and that wake-up was most of what an exec
// cost the host beyond auditd (BENCHMARKS.md, issue 15, eighth pass).
// The exec-only socket then drops such execs, so no reader wakes; the
// main socket keeps them, cut to hostExecMarkLen bytes, so its reader
// knows not to wait for a reader's record (unmarkHostExec). Without
// audit's, the exec-only socket carries the capturing program
// (capture_linux.go), which takes what a reader would read in the kernel;
// what it cannot take, and every host exec when it is not loaded, it
// marks the same way, and a reader reads the executable and argv but not
// the namespace (~8 µs).
type hostExecFilter struct {
	mark, drop *ebpf.Program
	// capture replaces mark on the exec-only socket when it loaded
	// (capture_linux.go); nil otherwise.
	capture *capture
	host    uint64
	// onPre says a program is on the exec-only socket, dropping that it
	// is the drop program. Only the main reader's goroutine changes and
	// reads them.
	onPre, dropping bool
}

// nsOffsets are the byte offsets the program follows from a task.
type nsOffsets struct{ nsproxy, mntNS, inum int16 }

// newHostExecFilter loads the two programs for the host mount namespace
// host, and the capturing one when withCapture is set (its failure is
// returned apart: the filter works without it). It fails without BTF,
// without the privilege to load a program that reads kernel memory
// (CAP_BPF and CAP_PERFMON) or on a kernel whose structures do not have
// the members named here.
func newHostExecFilter(host uint64, withCapture bool) (_ *hostExecFilter, capErr, err error) {
	if host == 0 || host > math.MaxUint32 {
		return nil, nil, fmt.Errorf("host mount namespace inode %d is not a namespace inode", host)
	}
	// Without the privilege no program loads: say so before parsing the
	// kernel's BTF (~20-30 ms of CPU) for nothing.
	if eff, err := effectiveCaps(); err == nil && !mayTrace(eff) {
		return nil, nil, errors.New("neither CAP_SYS_ADMIN nor CAP_BPF and CAP_PERFMON")
	}
	off, capOff, capErr, err := kernelOffsets(withCapture)
	if err != nil {
		return nil, nil, err
	}
	f := &hostExecFilter{host: host}
	keep := func(n int32) asm.Instructions {
		return asm.Instructions{asm.Mov.Imm(asm.R0, n), asm.Return()}
	}
	if f.mark, err = loadSocketFilter("ruled_hostexec", hostExecInsns(off, uint32(host), keep(hostExecMarkLen))); err != nil {
		return nil, nil, err
	}
	if f.drop, err = loadSocketFilter("ruled_hostexec", hostExecInsns(off, uint32(host), keep(0))); err != nil {
		f.mark.Close()
		return nil, nil, err
	}
	if withCapture && capErr == nil {
		f.capture, capErr = newCapture(off, capOff, uint32(host))
	}
	return f, capErr, nil
}

// kernelOffsets reads the programs' offsets from the kernel's BTF (those
// of the capturing program when withCapture; their failure is returned
// apart).
//
// The BTF is vmlinux's, mapped from /sys/kernel/btf (5 MB here), and the
// types looked up are decoded into the heap; both stay until a collection
// finds the spec unreachable (a cleanup unmaps the file). One collection
// as it goes out of reach returns them at start: 3 MB less idle RSS here.
func kernelOffsets(withCapture bool) (ns nsOffsets, capOff capOffsets, capErr, err error) {
	defer runtime.GC()
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return ns, capOff, nil, fmt.Errorf("kernel BTF: %w", err)
	}
	if ns, err = kernelNSOffsets(spec); err != nil {
		return ns, capOff, nil, err
	}
	if withCapture {
		capOff, capErr = kernelCapOffsets(spec)
	}
	return ns, capOff, capErr, nil
}

// effectiveCaps returns this thread's effective capability set.
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	return uint64(data[1].Effective)<<32 | uint64(data[0].Effective), nil
}

// mayTrace says whether the effective capabilities eff load a program
// that reads kernel memory: CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON.
func mayTrace(eff uint64) bool {
	has := func(c int) bool { return eff&(1<<c) != 0 }
	return has(unix.CAP_SYS_ADMIN) || (has(unix.CAP_BPF) && has(unix.CAP_PERFMON))
}

// kernelNSOffsets reads from the kernel's BTF where a task's mount
// namespace inode is.
func kernelNSOffsets(spec *btf.Spec) (nsOffsets, error) {
	var o nsOffsets
	err := readOffsets(spec, []btfOffset{
		{&o.nsproxy, []string{"task_struct", "nsproxy"}, 0},
		{&o.mntNS, []string{"nsproxy", "mnt_ns"}, 0},
		{&o.inum, []string{"mnt_namespace", "ns", "inum"}, 0},
	})
	return o, err
}

// btfOffset is one offset a program follows: where it goes, the struct
// and the members to it (each in the type of the one before), and a
// number of bytes added (an array element's).
type btfOffset struct {
	dst  *int16
	path []string
	add  int64
}

// readOffsets sets each offset from the kernel's BTF.
func readOffsets(spec *btf.Spec, offs []btfOffset) error {
	for _, m := range offs {
		off, err := memberPathOffset(spec, m.path)
		if err != nil {
			return err
		}
		off += m.add
		if off < 0 || off > math.MaxInt16 {
			return fmt.Errorf("kernel BTF: %v at byte %d", m.path, off)
		}
		*m.dst = int16(off)
	}
	return nil
}

// memberPathOffset returns the byte offset of path[1:] in struct
// path[0], each member in the struct (or union) type of the one before.
func memberPathOffset(spec *btf.Spec, path []string) (int64, error) {
	var s *btf.Struct
	if err := spec.TypeByName(path[0], &s); err != nil {
		return 0, fmt.Errorf("kernel BTF: struct %s: %w", path[0], err)
	}
	members := s.Members
	var off int64
	for i, name := range path[1:] {
		bits, m, ok := findMember(members, name)
		if !ok {
			return 0, fmt.Errorf("kernel BTF: %v: no member %s", path[:i+1], name)
		}
		if bits%8 != 0 {
			return 0, fmt.Errorf("kernel BTF: %v: %s at bit %d", path[:i+1], name, bits)
		}
		off += int64(bits / 8)
		switch t := btf.UnderlyingType(m.Type).(type) {
		case *btf.Struct:
			members = t.Members
		case *btf.Union:
			members = t.Members
		default:
			members = nil
		}
	}
	return off, nil
}

// findMember finds a member by name, also inside anonymous structs and
// unions (the kernel nests many), and returns its offset in bits.
func findMember(ms []btf.Member, name string) (uint32, btf.Member, bool) {
	for _, m := range ms {
		if m.Name == name {
			return uint32(m.Offset), m, true
		}
		if m.Name != "" {
			continue
		}
		var inner []btf.Member
		switch t := btf.UnderlyingType(m.Type).(type) {
		case *btf.Struct:
			inner = t.Members
		case *btf.Union:
			inner = t.Members
		}
		if b, im, ok := findMember(inner, name); ok {
			return uint32(m.Offset) + b, im, true
		}
	}
	return 0, btf.Member{}, false
}

// hostExecInsns is a socket filter that passes every message whole but
// an exec from the mount namespace host, for which it runs onHost with
// the message (the context) in R6 and the exec'ing task in R7; onHost
// returns what is kept of it (0: it is dropped).
func hostExecInsns(off nsOffsets, host uint32, onHost asm.Instructions) asm.Instructions {
	const (
		what = -8  // the stack slot for proc_event.what
		ptr  = -16 // the stack slot for each pointer read
	)
	insns := asm.Instructions{
		// R1 is the context (the message), bpf_skb_load_bytes's first
		// argument.
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R2, whatOffset),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, what),
		asm.Mov.Imm(asm.R4, 4),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "pass"),
		asm.LoadMem(asm.R1, asm.RFP, what, asm.Word),
		asm.JNE.Imm(asm.R1, int32(WhatExec), "pass"),
		asm.FnGetCurrentTask.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
	}
	// A failed read passes the message.
	insns = append(insns, probeRead(asm.R3, asm.R7, off.nsproxy, 8, ptr, "pass")...)
	insns = append(insns, asm.JEq.Imm(asm.R3, 0, "pass")) // an exiting task's
	insns = append(insns, probeRead(asm.R3, asm.R3, off.mntNS, 8, ptr, "pass")...)
	insns = append(insns, asm.JEq.Imm(asm.R3, 0, "pass"))
	insns = append(insns, probeRead(asm.R1, asm.R3, off.inum, 4, ptr, "pass")...)
	insns = append(insns, asm.JNE.Imm32(asm.R1, int32(host), "pass"))
	insns = append(insns, onHost...)
	return append(insns,
		// Whole: a length at least the message's.
		asm.Mov.Imm32(asm.R0, -1).WithSymbol("pass"),
		asm.Return(),
	)
}

// probeRead reads the size-byte (8 or 4) kernel value at base+o into the
// stack slot slot and loads it into dst; a failed read jumps to fail.
// It uses R1-R3 (and the helper call R0-R5), so base may be R3.
func probeRead(dst, base asm.Register, o int16, size int32, slot int16, fail string) asm.Instructions {
	ld := asm.DWord
	if size == 4 {
		ld = asm.Word
	}
	return append(probeReadTo(asm.RFP, slot, size, base, o, fail), asm.LoadMem(dst, asm.RFP, slot, ld))
}

// probeReadTo reads size bytes of kernel memory at base+o to the memory
// at to+at (the stack, a map value); a failed read jumps to fail.
func probeReadTo(to asm.Register, at int16, size int32, base asm.Register, o int16, fail string) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R3, base),
		asm.Add.Imm(asm.R3, int32(o)),
		asm.Mov.Reg(asm.R1, to),
		asm.Add.Imm(asm.R1, int32(at)),
		asm.Mov.Imm(asm.R2, size),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, fail),
	}
}

// loadSocketFilter loads insns as a socket filter.
func loadSocketFilter(name string, insns asm.Instructions) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name,
		Type:         ebpf.SocketFilter,
		Instructions: insns,
		// bpf_probe_read_kernel and bpf_get_current_task are GPL-only.
		License: "GPL",
	})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load %s: %+v", name, ve)
		}
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	return prog, nil
}

// attachFilter puts prog on the socket fd (replacing any filter it had).
func attachFilter(fd int, prog *ebpf.Program) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, prog.FD()); err != nil {
		return fmt.Errorf("setsockopt SO_ATTACH_BPF: %w", err)
	}
	return nil
}

// follow puts the drop program on the exec-only socket pre while drop
// holds (audit brings each exec's executable and argv), else the
// capturing one, or without it the marking one: an exec reader then reads
// a marked host exec's executable and argv but not its namespace, which
// the mark tells. A failure leaves the socket as it was and is returned.
func (f *hostExecFilter) follow(pre *rawSocket, drop bool) error {
	if f == nil || (drop == f.dropping && f.onPre) {
		return nil
	}
	prog := f.mark
	switch {
	case drop:
		prog = f.drop
	case f.capture != nil:
		prog = f.capture.prog
	}
	if err := attachFilter(pre.fd, prog); err != nil {
		return err
	}
	f.dropping, f.onPre = drop, true
	return nil
}

func (f *hostExecFilter) close() {
	if f == nil {
		return
	}
	f.mark.Close()
	f.drop.Close()
	f.capture.close()
}
