package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// Config configures a Cache; the zero value reads /proc with the defaults.
type Config struct {
	// Proc is the proc file system; nil means os.DirFS("/proc").
	Proc fs.FS
	// Read lists one namespace's sockets given one of its pids. nil means
	// ReadLive (sock_diag, falling back to /proc) when Proc is nil, and
	// ReadTables over Proc otherwise.
	Read func(pid int) ([]Socket, error)
	// TTL is how long a namespace's table serves lookups (default 1 s).
	TTL time.Duration
	// MinRefresh is how old a table must be before a lookup by remote
	// address (FindByRemote) that misses re-reads it (default 100 ms): a
	// connection made after the read is found, but a stream of lookups for
	// ends that are in no table does not re-read a namespace per event.
	// Lookups by inode (Socket) re-read once per unknown inode instead.
	MinRefresh time.Duration
}

// Cache keeps one socket table per network namespace.
type Cache struct {
	proc       fs.FS
	read       func(pid int) ([]Socket, error)
	ttl        time.Duration
	minRefresh time.Duration

	mu sync.Mutex
	ns map[uint64]*nsTable

	reads, readErrors atomic.Uint64
}

type nsTable struct {
	mu      sync.Mutex // serializes reads of one namespace
	read    time.Time
	byInode map[uint64]Socket
	socks   []Socket
	notInet map[uint64]struct{} // socket inodes a fresh read did not list
}

// NewCache returns an empty cache.
func NewCache(cfg Config) *Cache {
	if cfg.Read == nil {
		if cfg.Proc == nil {
			cfg.Read = ReadLive
		} else {
			proc := cfg.Proc
			cfg.Read = func(pid int) ([]Socket, error) { return ReadTables(proc, pid) }
		}
	}
	if cfg.Proc == nil {
		cfg.Proc = os.DirFS("/proc")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Second
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = 100 * time.Millisecond
	}
	return &Cache{proc: cfg.Proc, read: cfg.Read, ttl: cfg.TTL, minRefresh: cfg.MinRefresh, ns: map[uint64]*nsTable{}}
}

// Stats are the cache's counters.
type Stats struct {
	Namespaces int
	Reads      uint64 // namespace table reads (four files each)
	ReadErrors uint64
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	n := len(c.ns)
	c.mu.Unlock()
	return Stats{Namespaces: n, Reads: c.reads.Load(), ReadErrors: c.readErrors.Load()}
}

// NetNS returns the inode of pid's network namespace (readlink
// /proc/PID/ns/net -> "net:[N]").
func NetNS(proc fs.FS, pid int) (uint64, error) {
	name := strconv.Itoa(pid) + "/ns/net"
	target, err := fs.ReadLink(proc, name)
	if err != nil {
		return 0, fmt.Errorf("readlink %s: %w", name, err)
	}
	ino, ok := bracketInode(target, "net:[")
	if !ok {
		return 0, fmt.Errorf("readlink %s: unexpected %q", name, target)
	}
	return ino, nil
}

// bracketInode parses "PREFIXN]".
func bracketInode(s, prefix string) (uint64, bool) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// ReadTables reads all four socket tables of pid's network namespace.
// A missing tcp6/udp6 (IPv6 disabled) is not an error.
func ReadTables(proc fs.FS, pid int) ([]Socket, error) {
	var socks []Socket
	for _, k := range Kinds {
		name := strconv.Itoa(pid) + "/net/" + k.String()
		f, err := proc.Open(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && k.IPv6() {
				continue
			}
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		err = ParseTable(f, k, func(s Socket) { socks = append(socks, s) })
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return socks, nil
}

// table returns pid's namespace table, read now if it is older than maxAge.
func (c *Cache) table(pid int, maxAge time.Duration) (*nsTable, error) {
	ino, err := NetNS(c.proc, pid)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	t := c.ns[ino]
	if t == nil {
		c.sweepLocked()
		t = &nsTable{}
		c.ns[ino] = t
	}
	c.mu.Unlock()

	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.read.IsZero() && time.Since(t.read) < maxAge {
		return t, nil
	}
	socks, err := c.read(pid)
	c.reads.Add(1)
	if err != nil {
		c.readErrors.Add(1)
		return nil, err
	}
	by := make(map[uint64]Socket, len(socks))
	for _, s := range socks {
		if s.Inode != 0 {
			by[s.Inode] = s
		}
	}
	t.socks, t.byInode, t.read = socks, by, time.Now()
	return t, nil
}

// sweepLocked forgets namespaces not read for a while (they may be gone;
// their inode numbers get reused).
func (c *Cache) sweepLocked() {
	for ino, t := range c.ns {
		if t.mu.TryLock() {
			if !t.read.IsZero() && time.Since(t.read) > 10*c.ttl {
				delete(c.ns, ino)
			}
			t.mu.Unlock()
		}
	}
}

// inodeGap is how old a table must be before a lookup of an inode it has
// not seen re-reads it: the inode came from /proc/PID/fd just now, so a
// table read before that may predate the socket (a reverse shell's
// connection, made a millisecond before its exec).
const inodeGap = time.Millisecond

// Socket returns the socket with inode in pid's network namespace. The
// caller knows the inode is a socket pid holds (from /proc/PID/fd): one
// that is not in a table read after that is no TCP or UDP socket (unix,
// netlink ...), and is remembered so, so that a stream of lookups of the
// same unix socket (a journald stdout) does not re-read the namespace.
func (c *Cache) Socket(pid int, inode uint64) (Socket, bool) {
	t, err := c.table(pid, c.ttl)
	if err != nil {
		return Socket{}, false
	}
	t.mu.Lock()
	s, ok := t.byInode[inode]
	_, notInet := t.notInet[inode]
	stale := time.Since(t.read) >= inodeGap
	t.mu.Unlock()
	if ok || notInet || !stale {
		return s, ok
	}
	if t, err = c.table(pid, inodeGap); err != nil {
		return Socket{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok = t.byInode[inode]; !ok {
		if t.notInet == nil || len(t.notInet) >= 4096 {
			t.notInet = map[uint64]struct{}{}
		}
		t.notInet[inode] = struct{}{}
	}
	return s, ok
}

// FindByRemote returns the socket of pid's namespace whose remote end is
// rip:rport (l4proto "tcp", "udp" or "" for either). When several match
// (connections from different local ports to one server), the one whose
// inode pid holds wins.
func (c *Cache) FindByRemote(pid int, l4proto string, rip netip.Addr, rport uint16) (Socket, bool) {
	want := netip.AddrPortFrom(rip.Unmap(), rport)
	for _, maxAge := range []time.Duration{c.ttl, c.minRefresh} {
		t, err := c.table(pid, maxAge)
		if err != nil {
			return Socket{}, false
		}
		t.mu.Lock()
		var cands []Socket
		for _, s := range t.socks {
			if s.Remote == want && s.Inode != 0 && (l4proto == "" || s.Kind.L4Proto() == l4proto) {
				cands = append(cands, s)
			}
		}
		fresh := time.Since(t.read) < c.minRefresh
		t.mu.Unlock()
		switch len(cands) {
		case 0:
			if fresh {
				return Socket{}, false
			}
			continue
		case 1:
			return cands[0], true
		}
		held := PIDInodes(c.proc, pid)
		for _, s := range cands {
			if _, ok := held[s.Inode]; ok {
				return s, true
			}
		}
		return cands[0], true
	}
	return Socket{}, false
}

// PIDInodes returns the socket inodes pid holds (its /proc/PID/fd links
// "socket:[N]"), mapped to the lowest fd number.
func PIDInodes(proc fs.FS, pid int) map[uint64]int {
	dir := strconv.Itoa(pid) + "/fd"
	ents, err := fs.ReadDir(proc, dir)
	if err != nil {
		return nil
	}
	m := map[uint64]int{}
	for _, e := range ents {
		target, err := fs.ReadLink(proc, dir+"/"+e.Name())
		if err != nil {
			continue
		}
		ino, ok := bracketInode(target, "socket:[")
		if !ok {
			continue
		}
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if old, ok := m[ino]; !ok || fd < old {
			m[ino] = fd
		}
	}
	return m
}

// CompleteStdio fills a standard descriptor of pid that is socket inode:
// l4proto, both ends and the name "sip:sport->rip:rport". It fits
// proctable.Table.SetStdioResolver. Unix and other non-IP sockets are left
// as they are.
func (c *Cache) CompleteStdio(pid, _ int, inode uint64, s *event.Stdio) {
	sock, ok := c.Socket(pid, inode)
	if !ok {
		return
	}
	s.Type = event.StdioSocket
	s.L4Proto = sock.Kind.L4Proto()
	s.SIP, s.SPort = sock.Local.Addr().String(), int(sock.Local.Port())
	s.RIP, s.RPort = sock.Remote.Addr().String(), int(sock.Remote.Port())
	s.Name = sock.Name()
}

// Enrich fills fd.sip, fd.sport and fd.l4proto of connect and accept
// events, whose audit records name only the remote end: the socket is found
// in the process's namespace by that remote address. It also completes
// socket stdio that still carries only "socket:[N]".
func (c *Cache) Enrich(ev *event.Event) {
	pid := ev.Proc.PID
	if pid <= 0 {
		return
	}
	for _, s := range []*event.Stdio{&ev.Proc.Stdin, &ev.Proc.Stdout, &ev.Proc.Stderr} {
		if s.Type == event.StdioSocket && s.RIP == "" && s.SIP == "" {
			if ino, ok := bracketInode(s.Name, "socket:["); ok {
				c.CompleteStdio(pid, 0, ino, s)
			}
		}
	}
	if ev.Evt.Type != event.TypeConnect && ev.Evt.Type != event.TypeAccept {
		return
	}
	if ev.FD.SIP != "" || ev.FD.RIP == "" || ev.FD.RPort <= 0 || ev.FD.RPort > 0xffff {
		return
	}
	if ev.FD.Type != "" && ev.FD.Type != event.FDIPv4 && ev.FD.Type != event.FDIPv6 {
		return
	}
	rip, err := netip.ParseAddr(ev.FD.RIP)
	if err != nil {
		return
	}
	sock, ok := c.FindByRemote(pid, ev.FD.L4Proto, rip, uint16(ev.FD.RPort))
	if !ok {
		return
	}
	ev.FD.L4Proto = sock.Kind.L4Proto()
	ev.FD.SIP, ev.FD.SPort = sock.Local.Addr().String(), int(sock.Local.Port())
	if ev.FD.Type == "" {
		if sock.Local.Addr().Is4() {
			ev.FD.Type = event.FDIPv4
		} else {
			ev.FD.Type = event.FDIPv6
		}
	}
	ev.FD.Name = sock.Name()
}
