package procconn

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// The capturing program is the host exec filter's third: on the exec-only
// socket while no audit record brings exe and argv (ruled -sources
// procconn, the plugin), it takes from the exec'ing task what an exec
// reader would read from /proc for a host exec (the executable's path,
// comm, session, terminal, argv), writes it to a ring buffer and drops
// the message, so that no exec reader wakes.
//
// Why: an exec reader's wake-up and its /proc reads cost ~36 µs of CPU
// per exec, more than half of what `-sources procconn` cost per exec
// (BENCHMARKS.md, issue 15, ninth pass); the main reader, which wakes
// for the proc connector's messages anyway, takes the records from the
// ring buffer's shared memory without a system call per exec.
//
// The path is walked as the kernel's d_path does it (fs/d_path.c,
// prepend_path): up the dentries to the mount's root, across to the
// mount point in the parent mount, up to the namespace's root mount; the
// exec is in the host's mount namespace, so that is what readlink of
// /proc/PID/exe gives an agent whose root is that namespace's root, or
// one in a container of its own (the path is then unreachable from its
// root and given from the namespace's). An agent chrooted in the host's
// namespace would read paths relative to its root; there the program is
// not used (captureRootOK). What the program cannot write whole (a path
// deeper than capLevels, a name longer than a slot, a long argv, a full
// ring) it marks and passes, and an exec reader reads it as before.

// capOffsets are the byte offsets the capturing program follows.
type capOffsets struct {
	mm, signal, comm                 int16 // task_struct
	exeFile, argStart, argEnd        int16 // mm_struct
	pathMnt, pathDentry              int16 // file.f_path
	dParent, dNameName               int16 // dentry
	mntParent, mntMountpoint, mntVFS int16 // mount
	mntRoot                          int16 // mount.mnt.mnt_root
	sigSIDPid, sigTTY                int16 // signal_struct
	pidNr                            int16 // pid.numbers[0].nr
}

// kernelCapOffsets reads the capturing program's offsets from the
// kernel's BTF.
func kernelCapOffsets(spec *btf.Spec) (capOffsets, error) {
	var o capOffsets
	var sidType int64 = -1
	var pt *btf.Enum
	if err := spec.TypeByName("pid_type", &pt); err != nil {
		return o, fmt.Errorf("kernel BTF: enum pid_type: %w", err)
	}
	for _, v := range pt.Values {
		if v.Name == "PIDTYPE_SID" {
			sidType = int64(v.Value)
		}
	}
	if sidType < 0 {
		return o, errors.New("kernel BTF: enum pid_type has no PIDTYPE_SID")
	}
	err := readOffsets(spec, []btfOffset{
		{&o.mm, []string{"task_struct", "mm"}, 0},
		{&o.signal, []string{"task_struct", "signal"}, 0},
		{&o.comm, []string{"task_struct", "comm"}, 0},
		{&o.exeFile, []string{"mm_struct", "exe_file"}, 0},
		{&o.argStart, []string{"mm_struct", "arg_start"}, 0},
		{&o.argEnd, []string{"mm_struct", "arg_end"}, 0},
		{&o.pathMnt, []string{"file", "f_path", "mnt"}, 0},
		{&o.pathDentry, []string{"file", "f_path", "dentry"}, 0},
		{&o.dParent, []string{"dentry", "d_parent"}, 0},
		{&o.dNameName, []string{"dentry", "d_name", "name"}, 0},
		{&o.mntParent, []string{"mount", "mnt_parent"}, 0},
		{&o.mntMountpoint, []string{"mount", "mnt_mountpoint"}, 0},
		{&o.mntVFS, []string{"mount", "mnt"}, 0},
		{&o.mntRoot, []string{"mount", "mnt", "mnt_root"}, 0},
		{&o.sigSIDPid, []string{"signal_struct", "pids"}, 8 * sidType},
		{&o.sigTTY, []string{"signal_struct", "tty"}, 0},
		{&o.pidNr, []string{"pid", "numbers"}, 0}, // upid.nr is first
	})
	return o, err
}

// capture is the capturing program with its maps and the reader of its
// ring buffer.
type capture struct {
	prog            *ebpf.Program
	scratch, events *ebpf.Map
	rd              *ringbuf.Reader
	rec             ringbuf.Record
}

// captureRing is the ring buffer's size: ~150 records of short argv, 50 ms
// of an exec storm at 3,000 execs/s, where the main reader drains it every
// 4-8 ms; a longer stall fills it, and the program then leaves execs to
// the exec readers. Its pages are mapped into this process twice over
// (the kernel maps the data area twice so a record never wraps) and count
// in its RSS: 1 MiB cost 2 MiB.
const captureRing = 256 << 10

func newCapture(ns nsOffsets, off capOffsets, host uint32) (_ *capture, err error) {
	c := &capture{}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if c.scratch, err = ebpf.NewMap(&ebpf.MapSpec{Name: "ruled_capscr", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: capValueSize, MaxEntries: 1}); err != nil {
		return nil, fmt.Errorf("capture scratch map: %w", err)
	}
	if c.events, err = ebpf.NewMap(&ebpf.MapSpec{Name: "ruled_capring", Type: ebpf.RingBuf, MaxEntries: captureRing}); err != nil {
		return nil, fmt.Errorf("capture ring buffer: %w", err)
	}
	if c.prog, err = loadSocketFilter("ruled_hostcap", hostExecInsns(ns, host, captureInsns(off, c.scratch.FD(), c.events.FD()))); err != nil {
		return nil, err
	}
	if c.rd, err = ringbuf.NewReader(c.events); err != nil {
		return nil, fmt.Errorf("capture ring buffer reader: %w", err)
	}
	// Never wait: the main reader asks when it has an exec to match. A
	// deadline past makes each drain one epoll_wait that returns at once.
	c.rd.SetDeadline(time.Unix(1, 0))
	return c, nil
}

// captureInsns writes a capture record for the host exec whose message is
// the context saved in R6, by the task in R7, and drops the message; what
// it cannot write whole jumps to "mark". Registers: R6 the context, then
// the dentry; R7 the task, then the mount; R8 the scratch record; R9 the
// argv's length.
func captureInsns(o capOffsets, scratchFD, ringFD int) asm.Instructions {
	const (
		tmp  = -16 // the stack slot for each pointer read
		tmp2 = -24
		key  = -32
	)
	// read reads the 8-byte kernel value at base+o into the stack slot
	// slot and loads it into dst.
	read := func(dst, base asm.Register, o int16, slot int16) asm.Instructions {
		return probeRead(dst, base, o, 8, slot, "mark")
	}
	// into reads size bytes of kernel memory at base+o into the record at
	// at.
	into := func(at int16, size int32, base asm.Register, o int16) asm.Instructions {
		return probeReadTo(asm.R8, at, size, base, o, "mark")
	}
	// fromMsg copies size bytes of the message (the context in R6) at
	// off into the record at at.
	fromMsg := func(at int16, off, size int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, off),
			asm.Mov.Reg(asm.R3, asm.R8),
			asm.Add.Imm(asm.R3, int32(at)),
			asm.Mov.Imm(asm.R4, size),
			asm.FnSkbLoadBytes.Call(),
			asm.JNE.Imm(asm.R0, 0, "mark"),
		}
	}
	insns := asm.Instructions{
		asm.StoreImm(asm.RFP, key, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, scratchFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, key),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "mark"),
		asm.Mov.Reg(asm.R8, asm.R0),
	}
	// The message's timestamp and tgid: the exec's key.
	insns = append(insns, fromMsg(capOffTS, whatOffset+8, 8)...)
	insns = append(insns, fromMsg(capOffPID, whatOffset+procHeaderLen+4, 4)...)
	insns = append(insns, into(capOffComm, 16, asm.R7, o.comm)...)
	// Session and terminal, as stat's: signal->pids[PIDTYPE_SID]'s
	// number in the init namespace, and whether signal->tty is set.
	insns = append(insns, read(asm.R6, asm.R7, o.signal, tmp)...)
	insns = append(insns, asm.JEq.Imm(asm.R6, 0, "mark"))
	insns = append(insns, into(capOffTTY, 8, asm.R6, o.sigTTY)...)
	insns = append(insns, read(asm.R1, asm.R6, o.sigSIDPid, tmp)...)
	insns = append(insns, asm.StoreImm(asm.R8, capOffSID, 0, asm.Word))
	insns = append(insns, asm.JEq.Imm(asm.R1, 0, "nosid"))
	insns = append(insns, asm.Mov.Reg(asm.R6, asm.R1))
	insns = append(insns, into(capOffSID, 4, asm.R6, o.pidNr)...)
	// The argv: arg_start to arg_end of the new image's stack.
	insns = append(insns, label("nosid", read(asm.R6, asm.R7, o.mm, tmp))...)
	insns = append(insns, asm.JEq.Imm(asm.R6, 0, "mark"))
	insns = append(insns, read(asm.R9, asm.R6, o.argEnd, tmp)...)
	insns = append(insns, read(asm.R1, asm.R6, o.argStart, tmp2)...)
	insns = append(insns,
		asm.Sub.Reg(asm.R9, asm.R1),
		asm.JGT.Imm(asm.R9, capArgsMax, "mark"),
		asm.StoreMem(asm.R8, capOffArgLen, asm.R9, asm.DWord),
		asm.Mov.Reg(asm.R3, asm.R1),
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Add.Imm(asm.R1, capOffArgs),
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.FnProbeReadUser.Call(),
		asm.JNE.Imm(asm.R0, 0, "mark"),
	)
	// The executable: mm->exe_file->f_path.
	insns = append(insns, read(asm.R1, asm.R6, o.exeFile, tmp)...)
	insns = append(insns, asm.JEq.Imm(asm.R1, 0, "mark"), asm.StoreMem(asm.RFP, tmp2, asm.R1, asm.DWord))
	insns = append(insns, read(asm.R6, asm.R1, o.pathDentry, tmp)...)
	insns = append(insns, asm.LoadMem(asm.R1, asm.RFP, tmp2, asm.DWord))
	insns = append(insns, read(asm.R7, asm.R1, o.pathMnt, tmp)...)
	insns = append(insns, asm.Sub.Imm(asm.R7, int32(o.mntVFS))) // container_of(vfsmount, struct mount, mnt)
	for i := range capLevels {
		level := fmt.Sprintf("level%d", i)
		next := fmt.Sprintf("level%d", i+1)
		name := fmt.Sprintf("name%d", i)
		done := fmt.Sprintf("done%d", i)
		lens := int16(capOffLens + i)
		// At the mount's root: to its mount point in the parent mount,
		// or the end at the namespace's root mount (its own parent).
		insns = append(insns, label(level, read(asm.R1, asm.R7, o.mntRoot, tmp))...)
		insns = append(insns, asm.JNE.Reg(asm.R1, asm.R6, name))
		insns = append(insns, read(asm.R1, asm.R7, o.mntParent, tmp)...)
		insns = append(insns, asm.JEq.Reg(asm.R1, asm.R7, done), asm.StoreMem(asm.RFP, tmp2, asm.R1, asm.DWord))
		insns = append(insns, read(asm.R6, asm.R7, o.mntMountpoint, tmp)...)
		insns = append(insns,
			asm.LoadMem(asm.R7, asm.RFP, tmp2, asm.DWord),
			asm.StoreImm(asm.R8, lens, 0, asm.Byte),
			asm.Ja.Label(next),
		)
		// A name, then up to the parent.
		insns = append(insns, label(name, read(asm.R1, asm.R6, o.dParent, tmp))...)
		insns = append(insns, asm.StoreMem(asm.RFP, tmp2, asm.R1, asm.DWord))
		insns = append(insns, read(asm.R3, asm.R6, o.dNameName, tmp)...)
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R8),
			asm.Add.Imm(asm.R1, int32(capOffNames+i*capNameSlot)),
			asm.Mov.Imm(asm.R2, capNameSlot),
			asm.FnProbeReadKernelStr.Call(),
			// Less than 2: an error or an empty name; a full slot may
			// have cut the name.
			asm.JSLT.Imm(asm.R0, 2, "mark"),
			asm.JGE.Imm(asm.R0, capNameSlot, "mark"),
			asm.StoreMem(asm.R8, lens, asm.R0, asm.Byte),
			asm.LoadMem(asm.R1, asm.RFP, tmp2, asm.DWord),
		)
		// A dentry its own parent short of the mount's root: the
		// executable's own is a file of no directory (a memfd's,
		// "/memfd:NAME (deleted)" to d_path, which an exec reader trims
		// of " (deleted)"): its name is the path. Above it, one d_path
		// calls escaped: left to a reader.
		selfParent := "mark"
		if i == 0 {
			selfParent = "done1"
		}
		insns = append(insns,
			asm.JEq.Reg(asm.R1, asm.R6, selfParent),
			asm.Mov.Reg(asm.R6, asm.R1),
			asm.Ja.Label(next),
		)
		insns = append(insns,
			asm.Mov.Imm(asm.R1, int32(i)).WithSymbol(done),
			asm.Ja.Label("emit"),
		)
	}
	insns = append(insns,
		// Deeper than capLevels.
		asm.Ja.Label("mark").WithSymbol(fmt.Sprintf("level%d", capLevels)),
		asm.StoreMem(asm.R8, capOffLevels, asm.R1, asm.DWord).WithSymbol("emit"),
		asm.LoadMapPtr(asm.R1, ringFD),
		asm.Mov.Reg(asm.R2, asm.R8),
		asm.Mov.Reg(asm.R3, asm.R9),
		asm.Add.Imm(asm.R3, capOffArgs),
		// BPF_RB_NO_WAKEUP: nothing waits on the ring; the main reader
		// drains it when it takes the exec's message.
		asm.Mov.Imm(asm.R4, 1),
		asm.FnRingbufOutput.Call(),
		asm.JNE.Imm(asm.R0, 0, "mark"),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
		asm.Mov.Imm(asm.R0, hostExecMarkLen).WithSymbol("mark"),
		asm.Return(),
	)
	return insns
}

// label names the first of insns.
func label(name string, insns asm.Instructions) asm.Instructions {
	insns[0] = insns[0].WithSymbol(name)
	return insns
}

// drain puts the records in the ring buffer in cache, and returns how
// many it put and how many it could not decode.
func (c *capture) drain(cache *prefetchCache, host uint64) (put, bad uint64) {
	if c == nil || c.rd.AvailableBytes() == 0 {
		return 0, 0
	}
	for {
		err := c.rd.ReadInto(&c.rec)
		if err != nil {
			// os.ErrDeadlineExceeded: the ring is empty; a closed
			// reader ends with the source.
			if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, ringbuf.ErrClosed) {
				bad++
			}
			return put, bad
		}
		k, in, err := parseCapture(c.rec.RawSample, host)
		if err != nil {
			bad++
			continue
		}
		cache.put(k, in)
		put++
	}
}

func (c *capture) close() {
	if c == nil {
		return
	}
	if c.rd != nil {
		c.rd.Close()
	}
	if c.prog != nil {
		c.prog.Close()
	}
	if c.events != nil {
		c.events.Close()
	}
	if c.scratch != nil {
		c.scratch.Close()
	}
}

// captureRootOK says whether this process sees exe paths as the
// capturing program writes them: it is in another mount namespace than
// the host's (from which a host path is unreachable, and given whole), or
// its root is that namespace's: init's root, or where init's cannot be
// read (no CAP_SYS_PTRACE over it), a root that is a whole mount's.
func captureRootOK(host uint64) bool {
	var own, root, initRoot unix.Stat_t
	if unix.Stat("/proc/self/ns/mnt", &own) != nil {
		return false
	}
	if own.Ino != host {
		return true
	}
	if unix.Stat("/", &root) != nil {
		return false
	}
	if unix.Stat("/proc/1/root/", &initRoot) == nil {
		return root.Dev == initRoot.Dev && root.Ino == initRoot.Ino
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	return err == nil && rootIsMountRoot(mi)
}
