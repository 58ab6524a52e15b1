//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Syscall numbers the syscall package does not name (linux/amd64).
const (
	sysMemfdCreate = 319
	sysExecveat    = 322
	atEmptyPath    = 0x1000
)

// java runs its arguments as a child and waits, as Runtime.exec does:
// "java /bin/sh -c CMD" is the Log4Shell shape, "java /bin/ls /" a JVM that
// runs a tool without a shell.
//
// "java -jit" only creates and fills a memfd, as JIT compilers do for
// their code cache, and runs nothing.
func java(args []string) error {
	if len(args) == 1 && args[0] == "-jit" {
		fd, err := memfd("jit-code-cache")
		if err != nil {
			return err
		}
		mem := os.NewFile(fd, "memfd:jit-code-cache")
		defer mem.Close()
		_, err = mem.Write(make([]byte, 4096))
		return err
	}
	if len(args) == 0 {
		return errors.New("usage: java PROGRAM [ARG]...")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s: %w", args[0], err)
	}
	return nil
}

// service is a network service stand-in (nginx, mysqld). With arguments
// it runs them as a child, as a service exploited into command execution
// does; without, it appends to its own access log in /tmp, the benign write
// a service does all day.
func service(args []string) error {
	if len(args) > 0 {
		return java(args)
	}
	if err := os.MkdirAll("/tmp/nginx", 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile("/tmp/nginx/access.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "127.0.0.1 - - [%s] \"GET / HTTP/1.1\" 200 0\n", time.Now().Format(time.RFC3339))
	return err
}

// aptGet only has to exist under its name: the rule keys on the process.
func aptGet() error {
	fmt.Println("Reading package lists... Done")
	return nil
}

// sshd reads the shadow file as the real one does to check a password.
func sshd() error {
	f, err := os.Open("/etc/shadow")
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// memfdExec copies /bin/busybox into an anonymous memfd and executes it
// with execveat(AT_EMPTY_PATH) (fexecve): a binary that never touches disk.
// With "-noexec" it stops after writing, as runtimes that use memfds for
// their own buffers do.
func memfdExec(args []string) error {
	noexec := len(args) > 0 && args[0] == "-noexec"
	if noexec {
		args = args[1:]
	}
	if len(args) == 0 {
		args = []string{"echo", "fileless"}
	}
	fd, err := memfd("payload")
	if err != nil {
		return err
	}
	mem := os.NewFile(fd, "memfd:payload")
	src, err := os.Open("/bin/busybox")
	if err != nil {
		return err
	}
	if _, err := io.Copy(mem, src); err != nil {
		return fmt.Errorf("copy busybox to memfd: %w", err)
	}
	src.Close()
	if noexec {
		return mem.Close()
	}
	empty, _ := syscall.BytePtrFromString("")
	argv, err := syscall.SlicePtrFromStrings(args)
	if err != nil {
		return err
	}
	envv, err := syscall.SlicePtrFromStrings(os.Environ())
	if err != nil {
		return err
	}
	_, _, errno := syscall.Syscall6(sysExecveat, fd, uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), atEmptyPath, 0)
	return fmt.Errorf("execveat: %w", errno)
}

// ptracer starts a sibling sleep and attaches to it with PTRACE_ATTACH, the
// first step of process injection, then detaches and ends it.
func ptracer() error {
	child := exec.Command("/bin/sleep", "30")
	if err := child.Start(); err != nil {
		return err
	}
	defer func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	}()
	time.Sleep(100 * time.Millisecond)
	pid := child.Process.Pid
	// ptrace requests must come from the thread that attached.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- attachDetach(pid)
	}()
	return <-errc
}

func attachDetach(pid int) error {
	if err := syscall.PtraceAttach(pid); err != nil {
		return fmt.Errorf("ptrace attach %d: %w", pid, err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, syscall.WALL, nil); err != nil {
		return fmt.Errorf("wait %d: %w", pid, err)
	}
	if err := syscall.PtraceDetach(pid); err != nil {
		return fmt.Errorf("ptrace detach %d: %w", pid, err)
	}
	fmt.Println("attached and detached", pid)
	return nil
}

// kmodLoad asks the kernel to load a module image that is garbage. In an
// unprivileged container the kernel refuses with EPERM before looking at it,
// and even with the capability the image fails ELF checks (ENOEXEC): the
// attempt is what audit records, nothing is ever loaded.
func kmodLoad() error {
	img := []byte("not a kernel module, ruled scenario suite")
	params, _ := syscall.BytePtrFromString("")
	_, _, errno := syscall.Syscall(syscall.SYS_INIT_MODULE, uintptr(unsafe.Pointer(&img[0])), uintptr(len(img)), uintptr(unsafe.Pointer(params)))
	if errno == 0 {
		return errors.New("init_module of garbage succeeded")
	}
	fmt.Println("init_module refused:", errno)
	return nil
}

func memfd(name string) (uintptr, error) {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	fd, _, errno := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(p)), 0, 0)
	if errno != 0 {
		return 0, fmt.Errorf("memfd_create: %w", errno)
	}
	return fd, nil
}

// poolClient listens on ADDR:PORT and connects to it from the same process,
// sending a Stratum login as a miner would. Both ends are in the caller's
// network namespace (the suite runs it in a --network none container whose
// loopback carries ADDR), so nothing ever leaves the container.
func poolClient(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: poolclient ADDR PORT")
	}
	addr := net.JoinHostPort(args[0], args[1])
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(io.Discard, c)
		got <- err
	}()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	_, err = io.WriteString(c, `{"id":1,"method":"login","params":{"login":"ruled-scenario","pass":"x"}}`+"\n")
	// A miner keeps its pool connection; hold it a moment as one would.
	time.Sleep(time.Second)
	c.Close()
	if err != nil {
		return err
	}
	select {
	case err := <-got:
		return err
	case <-time.After(2 * time.Second):
		return errors.New("pool side saw no connection")
	}
}

// xmrig is a miner stand-in: "xmrig -o stratum+tcp://HOST:PORT" logs in to
// a pool it serves itself on HOST:PORT (see poolClient).
func xmrig(args []string) error {
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "-o" {
			continue
		}
		u, err := url.Parse(args[i+1])
		if err != nil {
			return err
		}
		return poolClient([]string{u.Hostname(), u.Port()})
	}
	return errors.New("usage: xmrig -o stratum+tcp://HOST:PORT")
}

// dockerPing is a docker client stand-in: it asks the Docker API on the
// mounted socket for /_ping, the read-only first request of every client.
func dockerPing() error {
	c, err := net.DialTimeout("unix", "/var/run/docker.sock", 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"); err != nil {
		return err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), "OK") {
		return fmt.Errorf("unexpected /_ping answer %q", b)
	}
	fmt.Println("docker API answered /_ping")
	return nil
}

// socat is a stand-in for socat's "EXEC:PROG TCP:HOST:PORT" reverse shell:
// it connects, starts PROG on one end of a socketpair as socat does (so the
// program's stdio is a unix socket, not the TCP one) and relays between the
// pair and the connection until PROG exits.
func socat(args []string) error {
	var prog, addr string
	for _, a := range args {
		l := strings.ToLower(a)
		switch {
		case strings.HasPrefix(l, "exec:"), strings.HasPrefix(l, "system:"):
			prog = a[strings.IndexByte(a, ':')+1:]
		case strings.HasPrefix(l, "tcp:"), strings.HasPrefix(l, "tcp-connect:"):
			addr = a[strings.IndexByte(a, ':')+1:]
		}
	}
	argv := strings.Fields(prog)
	if len(argv) == 0 || addr == "" {
		return errors.New("usage: socat EXEC:PROG TCP:HOST:PORT")
	}
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "socat"), os.NewFile(uintptr(fds[1]), "exec")
	defer ours.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = theirs, theirs, theirs
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		return err
	}
	go func() { _, _ = io.Copy(ours, conn) }()
	_, _ = io.Copy(conn, ours) // until the program exits
	return cmd.Wait()
}
