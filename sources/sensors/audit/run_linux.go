package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/event"
)

// found is the audit state ruled found at start and puts back on exit.
type found struct {
	enabled, backlogLimit, backlogWait uint32
	setEnabled, setLimit, setWait      bool
	added                              [][]byte
	copies                             [][]byte // per-container copies of path= rules
}

// Run connects to the kernel, installs the rules and emits events until ctx
// ends. Whatever it changed (daemon pid, rules, enabled flag, backlog
// settings) is put back before it returns, also on error.
func (s *Source) Run(ctx context.Context, emit func(*event.Event)) (err error) {
	// Commands and status go over their own socket: replies read on the
	// event socket would have to skip (and lose) the events in between.
	ctl, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return fmt.Errorf("open audit control socket: %w", err)
	}
	defer ctl.Close()
	// A run that died without restoring (SIGKILL, OOM kill, panic) left its
	// rules and settings: put back what it found before looking.
	if _, err := recoverDead(ctl, s.cfg.StateDir, s.logger); err != nil {
		return fmt.Errorf("recover the audit state of a dead run (ruled recover retries; a record in %s that cannot be read must be removed by hand): %w", s.cfg.StateDir, err)
	}
	st, err := ctl.GetStatus()
	if err != nil {
		return fmt.Errorf("get audit status: %w", err)
	}
	if st.Enabled == 2 {
		return errors.New("audit configuration is immutable (enabled=2): cannot install rules")
	}
	s.kernelLost.Store(uint64(st.Lost))

	daemon := st.PID != 0 && alive(int(st.PID))
	mode := s.cfg.Mode
	if mode == ModeAuto {
		mode = ModeUnicast
		if daemon {
			mode = ModeMulticast
		}
	}
	if mode == ModeUnicast && daemon {
		return fmt.Errorf("audit unicast: pid %d: %w", st.PID, ErrDaemonRunning)
	}
	s.mode.Store(mode)

	// Decide every change first and record it, with what was found, before
	// making any: a run killed half-way is recovered from that record.
	existing, err := ctl.GetRules()
	if err != nil {
		return fmt.Errorf("list audit rules: %w", err)
	}
	install := s.cfg.InstallRules == InstallAlways || (s.cfg.InstallRules == InstallAuto && mode == ModeUnicast)
	if s.cfg.InstallRules == InstallAuto && mode == ModeMulticast {
		install = len(existing) == 0
		if !install {
			s.logger.Info("audit rules: the running daemon has rules loaded; not adding ruled's (events are what its rules audit)", "kernel_rules", len(existing))
		}
	}
	wait := backlogWaitJiffies(st.BacklogWaitTime, s.cfg.BacklogWait)
	state := found{enabled: st.Enabled, backlogLimit: st.BacklogLimit, backlogWait: st.BacklogWaitTime}
	var sets []string
	if mode == ModeUnicast && st.BacklogLimit < s.cfg.BacklogLimit {
		sets = append(sets, SetBacklogLimit)
	}
	if mode == ModeUnicast && wait != st.BacklogWaitTime {
		sets = append(sets, SetBacklogWait)
	}
	// Next to auditd, a disabled audit is the administrator's choice unless
	// ruled brings its own rules.
	if st.Enabled == 0 && (mode == ModeUnicast || install) {
		sets = append(sets, SetEnabled)
	}
	self := os.Getpid()
	start, _, ok := ProcStart(os.DirFS("/proc"), self)
	if !ok {
		return errors.New("audit state: cannot read this process's start time in /proc")
	}
	record := State{
		PID: self, StartTime: start, Mode: mode, Sets: sets, Rules: existing,
		Found: Status{Enabled: st.Enabled, Failure: st.Failure, PID: st.PID, RateLimit: st.RateLimit, BacklogLimit: st.BacklogLimit, BacklogWaitTime: st.BacklogWaitTime},
	}
	if err := WriteState(s.cfg.StateDir, record); err != nil {
		return fmt.Errorf("record the audit state before changing it: %w", err)
	}

	var groups uint32
	if mode == ModeMulticast {
		groups = libaudit.NetlinkGroupReadLog
	}
	sock, err := newSocket(groups, s.cfg.SocketBuffer)
	if err != nil {
		return errors.Join(err, RemoveState(s.cfg.StateDir, self))
	}
	evc := &libaudit.AuditClient{Netlink: sock}

	defer func() {
		rerr := s.restore(ctl, &state)
		// Close releases the daemon role (pid 0) when SetPID was called.
		if cerr := evc.Close(); cerr != nil {
			rerr = errors.Join(rerr, fmt.Errorf("release audit socket: %w", cerr))
		}
		if rerr == nil {
			rerr = RemoveState(s.cfg.StateDir, self)
		} else {
			s.logger.Error("audit state not fully restored; its record stays for ruled recover", "dir", s.cfg.StateDir, "error", rerr)
		}
		err = errors.Join(err, rerr)
	}()

	if mode == ModeUnicast {
		if err := evc.SetPID(libaudit.WaitForReply); err != nil {
			return fmt.Errorf("become audit daemon (set pid): %w", err)
		}
		if slices.Contains(sets, SetBacklogLimit) {
			if err := ctl.SetBacklogLimit(s.cfg.BacklogLimit, libaudit.WaitForReply); err != nil {
				return fmt.Errorf("set audit backlog limit: %w", err)
			}
			state.setLimit = true
		}
		if slices.Contains(sets, SetBacklogWait) {
			if err := ctl.SetBacklogWaitTime(int32(wait), libaudit.WaitForReply); err != nil {
				return fmt.Errorf("set audit backlog wait time: %w", err)
			}
			state.setWait = true
		}
		s.logger.Info("audit source started", "mode", mode, "backlog_limit", max(st.BacklogLimit, s.cfg.BacklogLimit), "backlog_wait_jiffies", wait)
	} else {
		s.logger.Info(multicastStarted(s.cfg.Mode, daemon, st.PID), "mode", mode, "configured_mode", s.cfg.Mode, "daemon_pid", st.PID)
	}

	if install {
		if err := s.install(ctl, &state); err != nil {
			return err
		}
	}
	if slices.Contains(sets, SetEnabled) {
		if err := ctl.SetEnabled(true, libaudit.WaitForReply); err != nil {
			return fmt.Errorf("enable audit: %w", err)
		}
		state.setEnabled = true
	}

	return s.loop(ctx, sock, &control{ctl: ctl}, state.watch(install), emit)
}

// control serializes the control socket between the status poller and the
// container watcher: go-libaudit matches replies by reading the next one.
type control struct {
	mu  sync.Mutex
	ctl *libaudit.AuditClient
}

func (c *control) do(f func(*libaudit.AuditClient) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f(c.ctl)
}

// watch returns state when ruled installs its rules (so container copies
// are ruled's to add and remove), nil beside a daemon whose rules it leaves
// alone.
func (state *found) watch(install bool) *found {
	if install {
		return state
	}
	return nil
}

// install adds the rules, skipping (with a warning) a rule whose directory
// does not exist on this host or that the kernel refuses; only rules it added
// are recorded for removal.
func (s *Source) install(ctl *libaudit.AuditClient, state *found) error {
	existing, err := ctl.GetRules()
	if err != nil {
		return fmt.Errorf("list audit rules: %w", err)
	}
	var failed int
	for _, r := range s.rules {
		if r.Container {
			continue // copied into each container (watchContainers)
		}
		if d := r.HostDir(); d != "" && !isDir(d) {
			if r.Dir {
				s.logger.Info("audit rule skipped: its directory does not exist on this host", "line", r.Line, "path", r.Path)
			} else {
				// The kernel watches a file through its directory.
				// Containers still get their copy when they have it.
				s.logger.Debug("audit rule skipped on the host: directory does not exist", "line", r.Line, "path", r.Path)
			}
			continue
		}
		if containsRule(existing, r.Wire) {
			s.logger.Debug("audit rule already loaded, not ours to remove", "line", r.Line)
			continue
		}
		if err := ctl.AddRule(r.Wire); err != nil {
			failed++
			s.logger.Warn("audit rule not installed", "line", r.Line, "rule", r.Text, "error", err)
			continue
		}
		state.added = append(state.added, r.Wire)
	}
	s.installed.Store(int64(len(state.added)))
	if len(state.added) == 0 && failed > 0 {
		return fmt.Errorf("install audit rules: all %d rules failed", failed)
	}
	s.logger.Info("audit rules installed", "rules", len(state.added), "failed", failed)
	return nil
}

func containsRule(list [][]byte, r []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, r) {
			return true
		}
	}
	return false
}

// restore deletes exactly the rules ruled added and puts back the settings
// it changed.
func (s *Source) restore(ctl *libaudit.AuditClient, state *found) error {
	var errs []error
	// Container copies the kernel already dropped with their container are
	// gone; deleting them again is harmless.
	added := append(state.added, state.copies...)
	for _, w := range added {
		if err := ctl.DeleteRule(w); err != nil {
			errs = append(errs, fmt.Errorf("delete audit rule: %w", err))
		}
	}
	if len(added) > 0 {
		// go-libaudit's DeleteRule does not check the kernel's answer.
		if left, err := ctl.GetRules(); err == nil {
			for _, w := range added {
				if containsRule(left, w) {
					errs = append(errs, errors.New("an audit rule ruled added is still loaded"))
				}
			}
		}
	}
	state.added, state.copies = nil, nil
	s.installed.Store(0)
	s.containerRules.Store(0)
	if state.setEnabled {
		if err := ctl.SetEnabled(state.enabled == 1, libaudit.WaitForReply); err != nil {
			errs = append(errs, fmt.Errorf("restore audit enabled=%d: %w", state.enabled, err))
		}
	}
	if state.setLimit {
		if err := ctl.SetBacklogLimit(state.backlogLimit, libaudit.WaitForReply); err != nil {
			errs = append(errs, fmt.Errorf("restore audit backlog limit: %w", err))
		}
	}
	if state.setWait {
		if err := ctl.SetBacklogWaitTime(int32(state.backlogWait), libaudit.WaitForReply); err != nil {
			errs = append(errs, fmt.Errorf("restore audit backlog wait time: %w", err))
		}
	}
	return errors.Join(errs...)
}

// backlogWaitJiffies converts the wanted wait into jiffies. The kernel's
// default is 60*HZ, which tells HZ when it is still in place; otherwise
// HZ=250 (Debian's) is assumed.
func backlogWaitJiffies(current uint32, want time.Duration) uint32 {
	hz := uint32(250)
	for _, h := range []uint32{100, 250, 300, 1000} {
		if current == 60*h {
			hz = h
		}
	}
	j := uint32(want.Milliseconds()) * hz / 1000
	return max(j, 1)
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// raw is one received record in a rawBatch: its text is the batch's
// buf[off:end].
type raw struct {
	typ      uint16
	seq      uint64
	bad      bool // the header did not parse
	off, end int
}

// loop runs the receiver, the parser and the status poller until ctx ends or
// one fails.
func (s *Source) loop(ctx context.Context, sock *socket, ctl *control, state *found, emit func(*event.Event)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *rawBatch, max(s.cfg.QueueSize/64, 16))
	pool := newBatchPool()
	var wg sync.WaitGroup
	var recvErr error
	wg.Add(3)
	go func() {
		defer wg.Done()
		defer cancel()
		recvErr = s.receive(ctx, sock, queue, pool)
	}()
	go func() {
		defer wg.Done()
		s.parse(ctx, queue, pool, emit)
	}()
	go func() {
		defer wg.Done()
		s.poll(ctx, ctl)
	}()
	if state != nil {
		wg.Go(func() { s.watchContainers(ctx, ctl, state) })
		if !s.cfg.NoMountWatch {
			wg.Go(func() { s.watchMounts(ctx) })
		}
	}
	wg.Wait()
	if recvErr != nil && !errors.Is(recvErr, context.Canceled) {
		return recvErr
	}
	return nil
}

// receive is copy-only: it copies each syscall-related record off the read
// buffer and hands them to the parser in batches over a bounded queue,
// counting the records of a batch that does not fit.
//
// kauditd sends records one by one as audited syscalls finish, so waking for
// each would cost a poll wake-up, two receives and a goroutine hand-off per
// record (~150 µs of CPU per exec measured). After a wake-up the receiver
// waits coalesceDelay for more to arrive, then drains the socket in one go:
// at most ~250 rounds a second under load, 10 when idle, at the price of a
// few milliseconds of latency. The socket buffer absorbs the wait.
func (s *Source) receive(ctx context.Context, sock *socket, queue chan<- *rawBatch, pool *batchPool) error {
	batch := pool.get()
	// Every record counts toward the serials seen, whatever its type.
	var gaps seqGaps
	rd := newBatchReader(sock.fd)
	send := func() {
		if len(batch.recs) == 0 {
			return
		}
		select {
		case queue <- batch:
			batch = pool.get()
		default:
			s.queueDrops.Add(uint64(len(batch.recs)))
			batch.reset()
		}
	}
	// idle hands the batch over and waits for records to come, then lets
	// them gather.
	idle := func() error {
		send()
		// A blocking receive cannot be interrupted by closing the
		// socket, so wait in poll with a timeout.
		ready, err := sock.wait(100 * time.Millisecond)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("poll audit socket: %w", err)
		}
		if ready {
			time.Sleep(coalesceDelay)
		}
		return nil
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		n, err := rd.read()
		switch {
		case err == nil:
		case errors.Is(err, syscall.EAGAIN):
			if err := idle(); err != nil {
				return err
			}
			continue
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.ENOBUFS):
			s.socketDrops.Add(1)
			continue
		default:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("receive audit: %w", err)
		}
		for i := range n {
			typ, data, err := rd.message(i)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("receive audit: %w", err)
			}
			_, seq, _, herr := Header(data)
			if herr == nil {
				gaps.Observe(seq)
				s.seqLost.Store(gaps.Missing)
			}
			if typ < 1300 || typ >= 1400 {
				continue
			}
			s.records.Add(1)
			batch.add(typ, seq, herr != nil, data)
			if len(batch.recs) == maxBatch {
				send()
			}
		}
		if n < recvBatch {
			// A short read took all the socket held. Records came, so
			// more are likely coming: let them gather, then read again
			// without asking poll first (one system call and one wake-up
			// from a blocking one per round under load). The read that
			// finds nothing goes back to poll.
			send()
			time.Sleep(coalesceDelay)
		}
	}
}

// coalesceDelay is how long the receiver lets records accumulate after a
// wake-up (see receive). Each round wakes this goroutine, the parser and
// the event path, and on this machine a wake-up of a sleeping thread costs
// tens of µs; 4 ms instead of 1 took the agent's own CPU from 62-67 to
// 37-41 µs per exec with the proc connector at the same pace (BENCHMARKS.md,
// issue 15, sixth pass), for ~2 ms more exec-to-alert latency.
const coalesceDelay = 4 * time.Millisecond

func (s *Source) parse(ctx context.Context, queue <-chan *rawBatch, pool *batchPool, emit func(*event.Event)) {
	// The reassembler copies what it keeps, so a batch goes back to the
	// receiver as soon as it is parsed.
	re := &Reassembler{MaxInFlight: s.cfg.MaxInFlight, Timeout: s.cfg.ReassemblyTimeout, copyData: true}
	self := os.Getpid()
	complete := func(recs []Record) {
		ev := Normalize(recs, event.SourceAudit)
		if ev == nil {
			s.parseErrors.Add(1)
			return
		}
		if ev.Proc.PID == self {
			// ruled's own rule changes (installing, container watches,
			// restore) make the kernel log CONFIG_CHANGE with the sendto
			// that carried them; the rules' pid filter does not apply to
			// those. They are not activity to evaluate.
			event.Release(ev)
			return
		}
		s.events.Add(1)
		emit(ev)
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			re.Flush(complete)
			s.reassemblyLost.Store(re.Evicted)
			s.orphanEvents.Store(re.OrphanEvents)
			return
		case batch := <-queue:
			now := time.Now()
			for i, r := range batch.recs {
				data := batch.data(i)
				if s.tap != nil {
					s.tap(r.typ, data)
				}
				if r.bad {
					s.parseErrors.Add(1)
					continue
				}
				re.push(Record{Type: r.typ, Data: data}, r.seq, now, complete)
			}
			pool.put(batch)
		case now := <-tick.C:
			re.Expire(now, complete)
			s.reassemblyLost.Store(re.Evicted)
			s.orphanEvents.Store(re.OrphanEvents)
		}
	}
}

// poll reads the kernel's lost and backlog figures and warns when any loss
// counter grew since the last look (at most once per interval).
func (s *Source) poll(ctx context.Context, ctl *control) {
	tick := time.NewTicker(s.cfg.StatusInterval)
	defer tick.Stop()
	// The baseline is the kernel's count at start (Run stored it), so a
	// loss before the first look is warned about too.
	prev := s.Stats()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var st *libaudit.AuditStatus
		err := ctl.do(func(c *libaudit.AuditClient) (err error) {
			st, err = c.GetStatus()
			return err
		})
		if err != nil {
			s.logger.Warn("audit status", "error", err)
			continue
		}
		s.kernelLost.Store(uint64(st.Lost))
		s.kernelBacklog.Store(uint64(st.Backlog))
		cur := s.Stats()
		if cur.KernelLost > prev.KernelLost || cur.QueueDrops > prev.QueueDrops || cur.SocketDrops > prev.SocketDrops ||
			cur.ReassemblyLost > prev.ReassemblyLost || cur.SeqLost > prev.SeqLost || cur.OrphanEvents > prev.OrphanEvents {
			s.logger.Warn("audit events lost",
				"kernel_lost", cur.KernelLost-prev.KernelLost,
				"kernel_backlog", cur.KernelBacklog,
				"queue_drops", cur.QueueDrops-prev.QueueDrops,
				"socket_drops", cur.SocketDrops-prev.SocketDrops,
				"seq_lost", cur.SeqLost-prev.SeqLost,
				"orphan_events", cur.OrphanEvents-prev.OrphanEvents,
				"reassembly_lost", cur.ReassemblyLost-prev.ReassemblyLost)
		}
		prev = cur
	}
}

// watchContainers adds the container copies of the path= rules as
// WatchContainer asks, recording them in state for removal at exit, and
// now and then forgets the copies the kernel already dropped with their
// container.
func (s *Source) watchContainers(ctx context.Context, ctl *control, state *found) {
	// The rule lines copied, by the mount they were copied onto: "mount:"
	// and the kernel's unique id of a container's overlay mount on the
	// host, where the kernel gives one (Linux 6.8 on); else "upper:" and
	// the upperdir of an overlay at its mount, or the container id at its
	// events.
	done := map[string]map[int]bool{}
	capLogged := false
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		var req containerWatch
		select {
		case <-ctx.Done():
			return
		case <-prune.C:
			s.pruneContainerRules(ctl, state)
			if len(done) > 4096 {
				// Mostly containers long gone; a live one asking again
				// gets EEXIST for what it has.
				clear(done)
			}
			continue
		case req = <-s.watchReq:
		}
		root, key := req.root, ""
		atMount := root != ""
		// dirRoot roots the container's dir= rules: its overlay mount.
		dirRoot := root
		if !atMount {
			pid := s.pidOf(req)
			if pid == 0 {
				s.retryWatch(req)
				continue
			}
			root = "/proc/" + strconv.Itoa(pid) + "/root"
			if upper, err := container.RootUpperDir("/proc", pid); err == nil && upper != "" {
				dirRoot = s.overlayRoot(upper)
			}
		}
		// The copies belong to the overlay mounted on the host: a
		// container's first process opens the inodes of the overlay
		// mounted before it ran (watchMounts), and a container mounted
		// again (Docker's create, then start; a restart) has new inodes
		// that need copies of their own, under the same upperdir and often
		// the same mount id. The host's mount is what identifies it: the
		// container's root is a copy of it in another mount namespace, with
		// another unique id but the same inodes.
		var mount uint64
		if dirRoot != "" {
			mount = mountUniqueID(dirRoot)
		}
		switch {
		case mount != 0:
			key = "mount:" + strconv.FormatUint(mount, 10)
		case atMount:
			// Without a unique id, a mount request is a new mount.
			key = "upper:" + req.upper
			done[key] = map[int]bool{}
		default:
			// Whether the copies made at mount are on the mount the
			// container runs in cannot be told: it gets its own (once per
			// container id; a restarted container's come at its mount).
			key = req.id
		}
		have := done[key]
		if have == nil {
			have = map[int]bool{}
			done[key] = have
		}
		for _, r := range s.rules {
			// A container's dir= rules go only onto its overlay mount (see
			// CopyAt), and are asked for again on every request of the
			// container: the kernel drops a tree rule with its mount, a
			// stale one still there makes the new mount's copy "exist"
			// until it is pruned, and a remount can reuse the mount's id
			// (no new mount seen), so that which was added once may be gone.
			ruleRoot, dir := root, filepath.Dir(r.Path)
			if r.Dir {
				ruleRoot, dir = dirRoot, r.Path
			}
			if r.Path == "" || (r.Dir && (!r.Container || dirRoot == "")) || (have[r.Line] && !r.Dir) {
				continue
			}
			if !isDir(ruleRoot + dir) {
				continue // not (yet) in this container, or the process is gone
			}
			if len(state.copies) >= s.cfg.MaxContainerRules {
				s.containerFailed.Add(1)
				if !capLogged {
					capLogged = true
					s.logger.Warn("container audit watches: cap reached, later containers get none until others go away", "max_container_rules", s.cfg.MaxContainerRules)
				}
				break
			}
			c, _, err := r.CopyAt(ruleRoot)
			if err == nil {
				err = ctl.do(func(a *libaudit.AuditClient) error { return a.AddRule(c.Wire) })
			}
			switch {
			case err == nil:
				have[r.Line] = true
				state.copies = append(state.copies, c.Wire)
				s.containerRules.Store(int64(len(state.copies)))
			case err.Error() == "rule exists":
				// go-libaudit's AddRule turns EEXIST into this text.
				have[r.Line] = true
			default:
				s.containerFailed.Add(1)
				s.logger.Debug("container audit watch not added", "container", req.id, "rule", c.Text, "error", err)
			}
		}
	}
}

// pruneContainerRules drops from state the copies the kernel no longer has
// (their container's root was unmounted), so a long run does not keep the
// rules of every container it ever saw.
func (s *Source) pruneContainerRules(ctl *control, state *found) {
	if len(state.copies) == 0 {
		return
	}
	var loaded [][]byte
	if err := ctl.do(func(a *libaudit.AuditClient) (err error) {
		loaded, err = a.GetRules()
		return err
	}); err != nil {
		s.logger.Warn("list audit rules", "error", err)
		return
	}
	kept := state.copies[:0]
	for _, w := range state.copies {
		if containsRule(loaded, w) {
			kept = append(kept, w)
		}
	}
	state.copies = kept
	s.containerRules.Store(int64(len(kept)))
}

// socket is a NETLINK_AUDIT socket for go-libaudit's client whose fd ruled
// owns, so it can size the receive buffer and poll it.
type socket struct {
	fd      int
	pid     uint32
	seq     atomic.Uint32
	readBuf []byte
}

func newSocket(groups uint32, rcvbuf int) (*socket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return nil, fmt.Errorf("open audit socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind audit socket (groups %d): %w", groups, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("audit socket name: %w", err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		unix.Close(fd)
		return nil, errors.New("audit socket: not a netlink address")
	}
	return &socket{fd: fd, pid: nl.Pid, readBuf: make([]byte, syscall.NLMSG_HDRLEN+libaudit.AuditMessageMaxLength)}, nil
}

// wait blocks until the socket is readable or d passes.
func (c *socket) wait(d time.Duration) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(d.Milliseconds()))
	return n > 0, err
}

// Send implements libaudit.NetlinkSender.
func (c *socket) Send(msg syscall.NetlinkMessage) (uint32, error) { return c.send(msg, 0) }

// SendNoWait implements libaudit.NetlinkSender.
func (c *socket) SendNoWait(msg syscall.NetlinkMessage) (uint32, error) {
	return c.send(msg, unix.MSG_DONTWAIT)
}

func (c *socket) send(msg syscall.NetlinkMessage, flags int) (uint32, error) {
	if msg.Header.Pid == 0 {
		msg.Header.Pid = c.pid
	}
	msg.Header.Seq = c.seq.Add(1)
	msg.Header.Len = uint32(syscall.SizeofNlMsghdr + len(msg.Data))
	b := make([]byte, msg.Header.Len)
	hdr := msg.Header
	putHeader(b, hdr)
	copy(b[syscall.SizeofNlMsghdr:], msg.Data)
	return msg.Header.Seq, unix.Sendto(c.fd, b, flags, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

func putHeader(b []byte, h syscall.NlMsghdr) {
	ne := nativeEndian
	ne.PutUint32(b[0:], h.Len)
	ne.PutUint16(b[4:], h.Type)
	ne.PutUint16(b[6:], h.Flags)
	ne.PutUint32(b[8:], h.Seq)
	ne.PutUint32(b[12:], h.Pid)
}

// Receive implements libaudit.NetlinkReceiver.
func (c *socket) Receive(nonBlocking bool, p libaudit.NetlinkParser) ([]syscall.NetlinkMessage, error) {
	var flags int
	if nonBlocking {
		flags = unix.MSG_DONTWAIT
	}
	n, from, err := unix.Recvfrom(c.fd, c.readBuf, flags)
	if err != nil {
		return nil, err
	}
	if n < syscall.NLMSG_HDRLEN {
		return nil, fmt.Errorf("short netlink message (%d bytes)", n)
	}
	if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
		return nil, errors.New("netlink message not from the kernel")
	}
	return p(c.readBuf[:n])
}

// Close implements io.Closer.
func (c *socket) Close() error { return unix.Close(c.fd) }

// multicastStarted says why the audit source reads the multicast group: an
// audit daemon holds the unicast role (pid), or the mode was set to
// multicast while no daemon runs, so nothing takes the unicast stream.
func multicastStarted(configured string, daemon bool, pid uint32) string {
	switch {
	case daemon:
		return fmt.Sprintf("audit source started: an audit daemon (pid %d) holds the audit role; reading the multicast group read-only", pid)
	case pid != 0:
		return fmt.Sprintf("audit source started: audit_mode %s; the registered audit daemon (pid %d) is gone, reading the multicast group read-only", configured, pid)
	default:
		return fmt.Sprintf("audit source started: audit_mode %s and no audit daemon is running; reading the multicast group read-only (with no daemon the kernel also prints each record to its log)", configured)
	}
}
