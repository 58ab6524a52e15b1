package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// sock_diag (linux/inet_diag.h) lists a namespace's sockets several times
// faster than /proc/PID/net/* (measured on this kernel with 1,000
// sockets: ~2.6 µs per socket against ~20 µs; see the report's figures).
// A netlink socket belongs to the namespace it was created in, so only the
// dial needs the thread to enter the target namespace; the dump runs
// after the thread is back.

const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	inetDiagReqLen   = 56 // struct inet_diag_req_v2
	inetDiagMsgLen   = 72 // struct inet_diag_msg
)

// ErrNoDiag reports that sock_diag cannot be used (no CAP_SYS_ADMIN for
// setns, or the kernel lacks inet_diag); callers fall back to /proc.
var ErrNoDiag = errors.New("sock_diag unavailable")

// DiagTables lists pid's network namespace through NETLINK_SOCK_DIAG.
func DiagTables(pid int) ([]Socket, error) {
	c, err := DialInNetNS("/proc/"+strconv.Itoa(pid)+"/ns/net", unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var socks []Socket
	for _, k := range Kinds {
		if err := diagDumpKind(c, k, func(s Socket) { socks = append(socks, s) }); err != nil {
			return nil, fmt.Errorf("sock_diag %s of pid %d: %w", k, pid, err)
		}
	}
	return socks, nil
}

// DialInNetNS opens a netlink socket of family (NETLINK_SOCK_DIAG,
// NETLINK_ROUTE ...) inside the network namespace at nsPath. It runs on a goroutine of its own whose thread is locked: if the
// thread cannot return to its namespace it stays locked and Go retires it
// when the goroutine ends, so no other goroutine runs in the wrong
// namespace.
func DialInNetNS(nsPath string, family int) (*netlink.Conn, error) {
	type result struct {
		c   *netlink.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		c, back, err := dialLocked(nsPath, family)
		if back {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func dialLocked(nsPath string, family int) (c *netlink.Conn, back bool, err error) {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, true, fmt.Errorf("%w: %w", ErrNoDiag, err)
	}
	defer self.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, true, fmt.Errorf("open %s: %w", nsPath, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("%w: setns %s: %w", ErrNoDiag, nsPath, err)
	}
	c, dialErr := netlink.Dial(family, nil)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		if c != nil {
			c.Close()
		}
		return nil, false, fmt.Errorf("setns back: %w", err)
	}
	if dialErr != nil {
		return nil, true, fmt.Errorf("%w: dial: %w", ErrNoDiag, dialErr)
	}
	return c, true, nil
}

func diagDumpKind(c *netlink.Conn, k Kind, fn func(Socket)) error {
	req := make([]byte, inetDiagReqLen)
	req[0] = unix.AF_INET
	if k.IPv6() {
		req[0] = unix.AF_INET6
	}
	req[1] = unix.IPPROTO_TCP
	if k.L4Proto() == "udp" {
		req[1] = unix.IPPROTO_UDP
	}
	binary.NativeEndian.PutUint32(req[4:], 0xffffffff) // every state
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: sockDiagByFamily, Flags: netlink.Request | netlink.Dump},
		Data:   req,
	})
	if err != nil {
		return err
	}
	for _, m := range msgs {
		s, err := parseDiagMsg(m.Data, k)
		if err != nil {
			return err
		}
		fn(s)
	}
	return nil
}

// parseDiagMsg decodes struct inet_diag_msg. Ports and addresses are in
// network byte order, uid and inode in host order.
func parseDiagMsg(b []byte, k Kind) (Socket, error) {
	if len(b) < inetDiagMsgLen {
		return Socket{}, fmt.Errorf("inet_diag_msg of %d bytes: %w", len(b), ErrFormat)
	}
	family := b[0]
	s := Socket{Kind: k, State: State(b[1])}
	sport := binary.BigEndian.Uint16(b[4:6])
	dport := binary.BigEndian.Uint16(b[6:8])
	var src, dst netip.Addr
	if family == unix.AF_INET6 {
		src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
	} else {
		src = netip.AddrFrom4([4]byte(b[8:12]))
		dst = netip.AddrFrom4([4]byte(b[24:28]))
	}
	s.Local = netip.AddrPortFrom(src, sport)
	s.Remote = netip.AddrPortFrom(dst, dport)
	s.UID = binary.NativeEndian.Uint32(b[64:68])
	s.Inode = uint64(binary.NativeEndian.Uint32(b[68:72]))
	return s, nil
}

// noDiag remembers that sock_diag failed for lack of privilege or kernel
// support, so ReadLive stops trying.
var noDiag atomic.Bool

// ReadLive lists pid's namespace from the live kernel: through sock_diag
// when it works, else through /proc/PID/net/*.
func ReadLive(pid int) ([]Socket, error) {
	if !noDiag.Load() {
		socks, err := DiagTables(pid)
		if err == nil || !errors.Is(err, ErrNoDiag) {
			return socks, err
		}
		noDiag.Store(true)
	}
	return ReadTables(procFS, pid)
}

var procFS = os.DirFS("/proc")
