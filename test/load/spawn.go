package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Storm kinds the spawner runs.
const (
	stormExec    = "exec"
	stormConnect = "connect"
	stormWrite   = "write"
	// stormOpen opens a file below the write directory for reading: no
	// default audit rule asks for it, so no record, no event, no alert of
	// the write rule (whose path it shares) may come of it.
	stormOpen = "open"
)

// targetArg is argv[1] of every exec of the target, so the storm's execs are
// told apart from the host's own in audit logs and alerts.
const targetArg = "ruled-load"

// spawnConfig is one storm: count operations from streams goroutines.
type spawnConfig struct {
	kind    string
	count   int
	streams int
	target  string // exec: the binary
	addr    string // connect: loopback address of the listener the spawner opens
	dir     string // write: directory the files are written in
	stdio   string // exec: stdioInherit or stdioDup
}

// How an exec storm's children get their standard descriptors.
const (
	// stdioInherit: the children inherit the spawner's 0-2, which the
	// spawner subcommand points at /dev/null once at start; a child makes
	// no system call between fork and exec, as the C loop.
	stdioInherit = "inherit"
	// stdioDup: each child dup2s /dev/null onto 0-2 before its exec
	// (three dup2 per exec, which the default pack's dup_stdio audit rule
	// reports: four audit events per exec instead of one).
	stdioDup = "dup"
)

// op is one operation of a storm: the exec'd pid (0 for other kinds) and
// when the operation started (wall clock, ns).
type op struct {
	pid   int
	start int64
}

// spawnResult is what the spawner reports to the harness.
type spawnResult struct {
	elapsed time.Duration
	errors  int
	ops     []op
	self    int // the spawner's pid (connect and write storms run in it)
	// steal is the % of the machine's CPU time its hypervisor took while
	// the storm ran (NaN when unknown): a row with much of it measured a
	// machine shared with something else. Not part of the encoding: the
	// harness reads it around the spawner.
	steal float64
	// cpu is the CPU time of the spawner and every child it reaped (the
	// storm's own processes), kernel time included; zero when unknown.
	// Not part of the encoding either: the harness takes it from wait4.
	cpu time.Duration
}

// runSpawn is the spawner subcommand: it runs one storm and writes its
// result (see writeResult) to stdout. It runs in its own process so the
// harness's tailing of the agent's output does not share its CPU time.
func runSpawn(args []string) int {
	fs := flag.NewFlagSet("spawn", flag.ContinueOnError)
	var c spawnConfig
	fs.StringVar(&c.kind, "kind", stormExec, "exec, connect, write or open")
	fs.IntVar(&c.count, "count", 6000, "operations")
	fs.IntVar(&c.streams, "streams", 2, "concurrent loops")
	fs.StringVar(&c.target, "target", "/bin/true", "exec: binary to run")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "connect: loopback address to listen on and connect to")
	fs.StringVar(&c.dir, "dir", "", "write: directory to write files in")
	fs.StringVar(&c.stdio, "stdio", stdioInherit, "exec: inherit (children inherit /dev/null as 0-2) or dup (each child dup2s /dev/null onto 0-2)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	stdout, stderr := os.Stdout, os.Stderr
	if c.kind == stormExec && c.stdio == stdioInherit {
		var err error
		if stdout, stderr, err = nullStdio(); err != nil {
			fmt.Fprintln(os.Stderr, "spawn:", err)
			return 1
		}
	}
	res, err := spawn(c)
	if err != nil {
		fmt.Fprintln(stderr, "spawn:", err)
		return 1
	}
	w := bufio.NewWriter(stdout)
	writeResult(w, res)
	if err := w.Flush(); err != nil {
		fmt.Fprintln(stderr, "spawn:", err)
		return 1
	}
	return 0
}

// nullStdio points this process's descriptors 0-2 at /dev/null, for its
// children to inherit, and returns its former stdout and stderr on new
// close-on-exec descriptors (the result and errors still go there).
func nullStdio() (stdout, stderr *os.File, err error) {
	keep := func(fd int, name string) (*os.File, error) {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, fmt.Errorf("keep %s: %w", name, err)
		}
		return os.NewFile(uintptr(nfd), name), nil
	}
	if stdout, err = keep(1, "stdout"); err != nil {
		return nil, nil, err
	}
	if stderr, err = keep(2, "stderr"); err != nil {
		return nil, nil, err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	defer null.Close()
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(null.Fd()), fd, 0); err != nil {
			return nil, nil, fmt.Errorf("point %d at %s: %w", fd, os.DevNull, err)
		}
	}
	return stdout, stderr, nil
}

func spawn(c spawnConfig) (spawnResult, error) {
	if c.count <= 0 || c.streams <= 0 {
		return spawnResult{}, fmt.Errorf("count and streams must be positive (got %d, %d)", c.count, c.streams)
	}
	var (
		do      func(stream, i int) (int, error)
		cleanup func()
	)
	switch c.kind {
	case stormExec:
		// Inherited descriptors equal to their number are not duplicated
		// in the child (only their close-on-exec flag is cleared).
		attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}
		switch c.stdio {
		case stdioInherit, "":
		case stdioDup:
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return spawnResult{}, err
			}
			defer null.Close()
			fd := null.Fd()
			attr.Files = []uintptr{fd, fd, fd}
		default:
			return spawnResult{}, fmt.Errorf("stdio %q: want %s or %s", c.stdio, stdioInherit, stdioDup)
		}
		argv := []string{c.target, targetArg}
		do = func(int, int) (int, error) {
			pid, err := syscall.ForkExec(c.target, argv, attr)
			if err != nil {
				return 0, err
			}
			var ws syscall.WaitStatus
			for {
				_, err = syscall.Wait4(pid, &ws, 0, nil)
				if err != syscall.EINTR {
					break
				}
			}
			return pid, err
		}
	case stormConnect:
		ln, sa, err := listen(c.addr)
		if err != nil {
			return spawnResult{}, err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				conn.Close()
			}
		}()
		cleanup = func() { ln.Close(); <-done }
		do = func(int, int) (int, error) { return 0, connectOnce(sa) }
	case stormWrite:
		if c.dir == "" {
			return spawnResult{}, fmt.Errorf("write storm needs -dir")
		}
		// A few files per stream, rewritten: every open for write is an
		// audited syscall, and the directory stays small.
		do = func(stream, i int) (int, error) {
			name := filepath.Join(c.dir, "s"+strconv.Itoa(stream)+"-"+strconv.Itoa(i%8))
			fd, err := syscall.Open(name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o600)
			if err != nil {
				return 0, err
			}
			_, err = syscall.Write(fd, []byte{'x'})
			syscall.Close(fd)
			return 0, err
		}
	case stormOpen:
		if c.dir == "" {
			return spawnResult{}, fmt.Errorf("open storm needs -dir")
		}
		name := filepath.Join(c.dir, "read-only")
		if err := os.WriteFile(name, []byte("x"), 0o600); err != nil {
			return spawnResult{}, err
		}
		do = func(int, int) (int, error) {
			fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				return 0, err
			}
			var b [1]byte
			_, err = syscall.Read(fd, b[:])
			syscall.Close(fd)
			return 0, err
		}
	default:
		return spawnResult{}, fmt.Errorf("unknown storm kind %q (want exec, connect, write or open)", c.kind)
	}

	var (
		next   atomic.Int64
		errs   atomic.Int64
		wg     sync.WaitGroup
		perRun = make([][]op, c.streams)
	)
	begin := time.Now()
	for s := range c.streams {
		wg.Go(func() {
			ops := make([]op, 0, c.count/c.streams+1)
			for {
				i := int(next.Add(1)) - 1
				if i >= c.count {
					break
				}
				start := time.Now().UnixNano()
				pid, err := do(s, i)
				if err != nil {
					errs.Add(1)
					continue
				}
				ops = append(ops, op{pid: pid, start: start})
			}
			perRun[s] = ops
		})
	}
	wg.Wait()
	res := spawnResult{elapsed: time.Since(begin), errors: int(errs.Load()), self: os.Getpid()}
	if cleanup != nil {
		cleanup()
	}
	for _, ops := range perRun {
		res.ops = append(res.ops, ops...)
	}
	return res, nil
}

// listen opens the connect storm's listener; only loopback addresses are
// accepted, so the storm never leaves the machine.
func listen(addr string) (net.Listener, *syscall.SockaddrInet4, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect storm address %q: %w", addr, err)
	}
	ip := net.ParseIP(host).To4()
	if ip == nil || !ip.IsLoopback() {
		return nil, nil, fmt.Errorf("connect storm address %q: want an IPv4 loopback address", addr)
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, nil, err
	}
	sa := &syscall.SockaddrInet4{Port: ln.Addr().(*net.TCPAddr).Port}
	copy(sa.Addr[:], ip)
	return ln, sa, nil
}

// connectOnce opens, connects and closes one TCP socket with plain system
// calls (no poller), so each operation is one audited connect. It connects
// with a copy of to: syscall.Connect writes into the address it is given.
func connectOnce(to *syscall.SockaddrInet4) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	sa := *to
	return syscall.Connect(fd, &sa)
}

// writeResult encodes a spawner result: a header line, then one line per
// operation.
//
//	elapsed_ns=N errors=N self=PID ops=N
//	PID START_NS
func writeResult(w io.Writer, r spawnResult) {
	fmt.Fprintf(w, "elapsed_ns=%d errors=%d self=%d ops=%d\n", r.elapsed.Nanoseconds(), r.errors, r.self, len(r.ops))
	for _, o := range r.ops {
		fmt.Fprintf(w, "%d %d\n", o.pid, o.start)
	}
}

// parseResult decodes writeResult's output.
func parseResult(r io.Reader) (spawnResult, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return spawnResult{}, fmt.Errorf("spawner result: empty (%v)", sc.Err())
	}
	var (
		res     spawnResult
		ns, ops int64
	)
	if _, err := fmt.Sscanf(sc.Text(), "elapsed_ns=%d errors=%d self=%d ops=%d", &ns, &res.errors, &res.self, &ops); err != nil {
		return spawnResult{}, fmt.Errorf("spawner result header %q: %w", sc.Text(), err)
	}
	res.elapsed = time.Duration(ns)
	res.ops = make([]op, 0, ops)
	line := 1
	for sc.Scan() {
		line++
		var o op
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &o.pid, &o.start); err != nil {
			return spawnResult{}, fmt.Errorf("spawner result line %d %q: %w", line, sc.Text(), err)
		}
		res.ops = append(res.ops, o)
	}
	if err := sc.Err(); err != nil {
		return spawnResult{}, fmt.Errorf("spawner result: %w", err)
	}
	if int64(len(res.ops)) != ops {
		return spawnResult{}, fmt.Errorf("spawner result: header says %d operations, %d lines follow", ops, len(res.ops))
	}
	return res, nil
}
