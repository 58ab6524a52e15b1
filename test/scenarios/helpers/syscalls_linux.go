//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// sysUserfaultfd is userfaultfd(2) on linux/amd64.
const sysUserfaultfd = 323

// becomeDaemon sets this thread's uid to daemon's (1) with a raw setuid,
// which changes only the calling thread: the thread is locked first.
func becomeDaemon() error {
	runtime.LockOSThread()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SETUID, 1, 0, 0); errno != 0 {
		return fmt.Errorf("setuid 1: %w", errno)
	}
	return nil
}

// setuidBack becomes daemon (uid 1), then asks to be root again: the second
// setuid is refused (EPERM), which is what a privilege escalation attempt
// by a non-root program looks like to the kernel.
func setuidBack() error {
	if err := becomeDaemon(); err != nil {
		return err
	}
	_, _, errno := syscall.RawSyscall(syscall.SYS_SETUID, 0, 0, 0)
	if errno == 0 {
		return errors.New("setuid 0 from uid 1 succeeded")
	}
	fmt.Println("setuid back to root refused:", errno)
	return nil
}

// dropUID is a service dropping root for daemon (uid 1) and staying there.
func dropUID() error {
	if err := becomeDaemon(); err != nil {
		return err
	}
	fmt.Println("running as uid", syscall.Getuid())
	return nil
}

// uffd becomes daemon and calls userfaultfd(0): refused for an unprivileged
// caller where vm.unprivileged_userfaultfd is 0, which is the attempt audit
// records either way.
func uffd() error {
	if err := becomeDaemon(); err != nil {
		return err
	}
	fd, _, errno := syscall.RawSyscall(sysUserfaultfd, 0, 0, 0)
	if errno == 0 {
		syscall.Close(int(fd))
	}
	fmt.Println("userfaultfd:", errno)
	return nil
}

// antiDebug starts a child that asks to be traced by its parent
// (PTRACE_TRACEME before its exec), as malware does against debuggers,
// then kills it.
func antiDebug() error {
	cmd := exec.Command("/bin/sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	fmt.Println("traced child", cmd.Process.Pid)
	return nil
}

// packetSocket opens and closes an AF_PACKET raw socket (all protocols),
// as a sniffer does; nothing is read or sent.
func packetSocket() error {
	const ethPAll = 0x0300 // htons(ETH_P_ALL)
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, ethPAll)
	if err != nil {
		return fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	fmt.Println("packet socket", fd)
	return syscall.Close(fd)
}

// logrotate truncates a log in place, as logrotate's copytruncate does.
func logrotate() error {
	const log = "/var/log/ruled-scn.log"
	if err := os.MkdirAll("/var/log", 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(log, []byte("old line\n"), 0o644); err != nil {
		return err
	}
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// scp is a stand-in that only starts: the rule is about the tool running.
func scp() error {
	fmt.Println("scp (ruled scenario stand-in)")
	return nil
}
