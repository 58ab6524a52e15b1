package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/ruled/ruled/test/e2e"
)

// stormProcs is not a storm: the row is ruled's RSS while -procs sleeping
// processes live (the target: under 64 MiB with 10,000).
const stormProcs = "procs"

// measureProcs starts h.cfg.procs sleeping processes, waits until the
// agent (pid) has taken them in (its CPU time stops growing), and fills a
// row with its peak RSS. The processes are killed before it returns.
func (h *harness) measureProcs(ctx context.Context, agent string, pid int) (row, error) {
	h.progress("%s: %d live processes", agent, h.cfg.procs)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return row{}, err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return row{}, err
	}
	defer null.Close()
	// The kernel kills the sleepers when the thread that started them
	// ends (Pdeathsig): this goroutine keeps its thread until they are
	// gone, and an interrupted harness leaves none behind.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd := null.Fd()
	attr := &syscall.ProcAttr{Files: []uintptr{fd, fd, fd}, Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}}
	argv := []string{sleep, "600"}
	var pids []int
	defer func() {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		for _, p := range pids {
			var ws syscall.WaitStatus
			for {
				if _, err := syscall.Wait4(p, &ws, 0, nil); err != syscall.EINTR {
					break
				}
			}
		}
	}()
	kids := descendants(pid)
	cpu0, err := cpuTicks(pid, kids)
	if err != nil {
		return row{}, err
	}
	begin := time.Now()
	before := e2e.ReadCPUStat()
	var startErr error
	for len(pids) < h.cfg.procs && ctx.Err() == nil {
		p, err := syscall.ForkExec(sleep, argv, attr)
		if err != nil {
			startErr = fmt.Errorf("start process %d of %d: %w", len(pids)+1, h.cfg.procs, err)
			break
		}
		pids = append(pids, p)
	}
	elapsed := time.Since(begin)
	steal := e2e.StealSince(before)
	if err := ctx.Err(); err != nil {
		return row{}, err
	}
	if startErr != nil {
		return row{}, startErr
	}
	// Settled: no CPU used by the agent for a second (10 s at most).
	last, still := int64(-1), 0
	for deadline := time.Now().Add(10 * time.Second); still < 10 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := cpuTicks(pid, kids)
		if err != nil {
			return row{}, err
		}
		if c == last {
			still++
		} else {
			last, still = c, 0
		}
	}
	cpu1, err := cpuTicks(pid, kids)
	if err != nil {
		return row{}, err
	}
	r := h.newRow(agent, stormProcs, spawnResult{elapsed: elapsed, ops: make([]op, len(pids)), steal: steal})
	r.cpuPerOp = float64(cpu1-cpu0) / clockTicks * 1e6 / float64(len(pids))
	r.rssMiB = peakRSS(pid, kids)
	return r, nil
}
