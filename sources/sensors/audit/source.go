package audit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/rules"
)

// Modes (Config.Mode).
const (
	ModeAuto      = "auto"      // multicast when a live audit daemon exists, else unicast
	ModeUnicast   = "unicast"   // become the audit daemon
	ModeMulticast = "multicast" // read the read-only multicast group
)

// Rule install policies (Config.InstallRules).
const (
	// InstallAuto installs the rules in unicast mode, and in multicast mode
	// only when the kernel has no audit rules at all (auditd running with
	// Debian's empty default rule set would otherwise give no SYSCALL
	// records, so ruled would see nothing).
	InstallAuto   = "auto"
	InstallAlways = "always"
	InstallNever  = "never"
)

// Config configures the audit source. The zero value is usable.
type Config struct {
	// Mode is auto (default), unicast or multicast.
	Mode string
	// RulesText is the audit rules in auditctl syntax; empty means the
	// embedded default (rules/audit.rules).
	RulesText string
	// InstallRules is auto (default), always or never.
	InstallRules string
	// BacklogLimit is the kernel backlog set in unicast mode when the
	// current one is lower (default 8192).
	BacklogLimit uint32
	// BacklogWait is the kernel's backlog wait in unicast mode (default
	// 10 ms): how long an audited syscall may block when the backlog is
	// full, before the record is lost. The kernel default (60 s) freezes
	// every audited syscall behind a stalled reader.
	BacklogWait time.Duration
	// SocketBuffer is the netlink receive buffer (default 16 MiB).
	SocketBuffer int
	// QueueSize bounds the records waiting to be parsed (default 16384),
	// queued in batches of up to 256.
	QueueSize int
	// StatusInterval is how often kernel lost/backlog figures are read
	// (default 5 s).
	StatusInterval time.Duration
	// ReassemblyTimeout flushes an event whose EOE never came (default 2 s).
	ReassemblyTimeout time.Duration
	// MaxInFlight bounds the events waiting for their EOE (default 1024).
	MaxInFlight int
	// MaxContainerRules bounds the per-container copies of path= rules
	// (default 4096, ~400 containers with the default rules). Each rule in
	// the kernel's exit list costs every open syscall on the host a little:
	// 1,000 of them added ~0.5 µs per open here (BENCHMARKS.md).
	MaxContainerRules int
	// StateDir is where the run records the audit state it found before
	// changing it, for recovery after a crash (default DefaultStateDir).
	StateDir string
	// NoMountWatch turns off adding a container's copies when its root
	// overlay is mounted (before its first process runs); the copies then
	// come with the container's first events, a few milliseconds into its
	// life, too late for an entrypoint that reads a credential at once.
	NoMountWatch bool
}

// Stats are the source's loss and volume counters.
type Stats struct {
	Mode           string // unicast or multicast once running
	Records        uint64 // records received
	Events         uint64 // events emitted
	KernelLost     uint64 // kernel "lost" counter (since boot; all readers)
	KernelBacklog  uint64 // kernel backlog at the last status read
	QueueDrops     uint64 // records dropped because the parse queue was full
	SocketDrops    uint64 // receive errors ENOBUFS: the socket buffer overflowed
	ReassemblyLost uint64 // events flushed without their EOE (timeout, window full)
	ParseErrors    uint64 // records that did not parse
	// SeqLost counts events the kernel numbered whose records never came
	// (their serials are missing): what a socket overrun (SocketDrops) or
	// the kernel's queues behind a stalled reader lost.
	SeqLost uint64
	// OrphanEvents counts events whose SYSCALL record never came (the
	// kernel lost it): their other records are ignored.
	OrphanEvents   uint64
	RulesInstalled int // audit rules ruled added
	// ContainerRules counts the per-container copies of path= rules added
	// (the kernel removes them itself when a container goes away).
	ContainerRules  int64
	ContainerFailed uint64 // copies the kernel refused (process gone ...)
	WatchDrops      uint64 // container watch requests dropped (queue full)
	RootWatches     uint64 // new overlay mounts whose copies were asked for before the container ran
}

// Source is the kernel audit source.
type Source struct {
	cfg    Config
	logger *slog.Logger
	rules  []Rule
	// tap, when set (tests recording fixtures), sees every record before
	// reassembly, on the parse goroutine.
	tap func(typ uint16, data []byte)

	mode           atomic.Value // string
	records        atomic.Uint64
	events         atomic.Uint64
	kernelLost     atomic.Uint64
	kernelBacklog  atomic.Uint64
	queueDrops     atomic.Uint64
	socketDrops    atomic.Uint64
	reassemblyLost atomic.Uint64
	parseErrors    atomic.Uint64
	seqLost        atomic.Uint64
	orphanEvents   atomic.Uint64
	installed      atomic.Int64

	watchReq chan containerWatch
	findPID  func(containerID string) int
	// overlays maps an overlay's upperdir to where it is mounted in ruled's
	// mount namespace (watchMounts keeps it): a container's dir= rules
	// can only be rooted there.
	overlays        atomic.Pointer[map[string]string]
	watchDrops      atomic.Uint64
	rootWatches     atomic.Uint64
	containerRules  atomic.Int64
	containerFailed atomic.Uint64
}

// New validates cfg and parses the audit rules; nothing touches the kernel
// until Run.
func New(cfg Config, logger *slog.Logger) (*Source, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeAuto
	case ModeAuto, ModeUnicast, ModeMulticast:
	default:
		return nil, fmt.Errorf("audit mode %q: want auto, unicast or multicast", cfg.Mode)
	}
	switch cfg.InstallRules {
	case "":
		cfg.InstallRules = InstallAuto
	case InstallAuto, InstallAlways, InstallNever:
	default:
		return nil, fmt.Errorf("audit install rules %q: want auto, always or never", cfg.InstallRules)
	}
	if cfg.RulesText == "" {
		cfg.RulesText = rules.AuditRules
	}
	if cfg.BacklogLimit == 0 {
		cfg.BacklogLimit = 8192
	}
	if cfg.BacklogWait <= 0 {
		cfg.BacklogWait = 10 * time.Millisecond
	}
	if cfg.SocketBuffer <= 0 {
		cfg.SocketBuffer = 16 << 20
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 16384
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 5 * time.Second
	}
	if cfg.ReassemblyTimeout <= 0 {
		cfg.ReassemblyTimeout = 2 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if cfg.MaxContainerRules <= 0 {
		cfg.MaxContainerRules = 4096
	}
	rs, err := ParseRules(cfg.RulesText, os.Getpid(), isDir)
	if err != nil {
		return nil, fmt.Errorf("audit rules: %w", err)
	}
	s := &Source{cfg: cfg, logger: logger, rules: rs, watchReq: make(chan containerWatch, 256)}
	s.mode.Store("")
	return s, nil
}

// ReadRulesFile reads an audit rules file for Config.RulesText.
func ReadRulesFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read audit rules: %w", err)
	}
	if _, err := ParseRules(string(b), 0, nil); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return string(b), nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// Name implements sources.Source.
func (s *Source) Name() string { return "audit" }

// Rules returns the parsed rules the source installs.
func (s *Source) Rules() []Rule { return s.rules }

// Stats returns the current counters; safe to call at any time.
func (s *Source) Stats() Stats {
	return Stats{
		Mode:            s.mode.Load().(string),
		Records:         s.records.Load(),
		Events:          s.events.Load(),
		KernelLost:      s.kernelLost.Load(),
		KernelBacklog:   s.kernelBacklog.Load(),
		QueueDrops:      s.queueDrops.Load(),
		SocketDrops:     s.socketDrops.Load(),
		ReassemblyLost:  s.reassemblyLost.Load(),
		ParseErrors:     s.parseErrors.Load(),
		SeqLost:         s.seqLost.Load(),
		OrphanEvents:    s.orphanEvents.Load(),
		RulesInstalled:  int(s.installed.Load()),
		ContainerRules:  s.containerRules.Load(),
		ContainerFailed: s.containerFailed.Load(),
		WatchDrops:      s.watchDrops.Load(),
		RootWatches:     s.rootWatches.Load(),
	}
}

// ErrDaemonRunning is returned by a forced unicast start while another live
// process is the audit daemon: the kernel refuses to replace it.
var ErrDaemonRunning = errors.New("another process is the audit daemon")
