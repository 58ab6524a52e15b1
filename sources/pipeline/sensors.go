package pipeline

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/sources/enrichers/procfs"
	"github.com/ruled/ruled/sources/enrichers/proctable"
	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/audit"
	"github.com/ruled/ruled/sources/sensors/procconn"
)

// Source names accepted by Config.Sources.
const (
	Audit    = "audit"
	Procconn = "procconn"
)

// ParseSources splits a -sources list ("audit,procconn") and checks names.
func ParseSources(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s != Audit && s != Procconn {
			return nil, fmt.Errorf("unknown source %q (want audit, procconn)", s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// newSensors builds the kernel sensors and the enrichers they share.
// Asked-for sources that cannot run are an error; with no explicit choice, a
// source that cannot run is left out and the reason logged, and it fails
// only when none can run.
func (l *Pipeline) newSensors(cfg Config) error {
	log := l.log
	want := cfg.Sources
	explicit := len(want) > 0
	if !explicit {
		want = []string{Audit, Procconn}
	}
	l.table = proctable.New(proctable.Config{Logger: log, EnvMax: cfg.EnvMax})
	if rules := cfg.Rules; rules != nil {
		// An exec reads from /proc only the optional parts the running
		// rules use (without Rules the consumer may read any field).
		l.table.SetFieldUse(func(f string) bool { return rules().Fields().Has(f) })
		// And only for the processes a rule reading them can match.
		l.table.SetReadGuide(func(c proctable.Clue) procfs.Fields { return guidedReads(rules().Guide(), c) })
	}
	l.newResolver(cfg)

	var skipped []string
	for _, name := range want {
		err := l.add(name, cfg)
		if err == nil {
			continue
		}
		if explicit {
			return fmt.Errorf("source %s: %w", name, err)
		}
		log.Warn("source not started", "source", name, "reason", err.Error())
		skipped = append(skipped, name)
	}
	if len(l.srcs) == 0 {
		return fmt.Errorf("no live source can run (%s): run as root, or use -replay FILE", strings.Join(skipped, ", "))
	}
	names := make([]string, len(l.srcs))
	for i, s := range l.srcs {
		names[i] = s.Name()
	}
	log.Info("live sources", "running", strings.Join(names, ","), "skipped", strings.Join(skipped, ","))

	l.enrich = append(l.enrich, l.table)
	l.addContainers(cfg)
	if l.audit != nil && l.conn != nil {
		// Created here, not in Run, so the workers may start in either order.
		l.merger = proctable.NewMerger(l.relyOnAuditExecs(), 0, l.merged)
		l.gate = newOrderGate(l.table.Knows, l.conn.Sync, l.observe)
	}
	return nil
}

func (l *Pipeline) add(name string, cfg Config) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (CAP_AUDIT_CONTROL / CAP_NET_ADMIN)")
	}
	switch name {
	case Audit:
		s, err := audit.New(cfg.Audit, l.log.With("source", Audit))
		if err != nil {
			return err
		}
		l.audit = s
		l.watches = newWatchTracker(s.WatchDirs())
		s.SetPIDFinder(l.table.OldestIn)
		l.srcs = append(l.srcs, s)
	case Procconn:
		// exe, comm and argv at receive: alone, nothing else would carry
		// them for a quick process; beside audit they are left to its
		// record while its exec records keep coming.
		s := procconn.New(procconn.Config{Logger: l.log.With("source", Procconn), Resync: l.table.Resync,
			ContainerOf: l.res.ContainerIDOf, HostMountNS: l.table.InitMountNS(), ReadExec: true,
			ExecFromAudit: l.table.AuditBringsExecs, Drained: l.markDrained, ExecReader: cfg.ExecReader})
		l.table.SetHostMountRule(true)
		l.conn = s
		l.srcs = append(l.srcs, s)
	}
	return nil
}

// guidedReads maps the engine's read guide onto the process table's
// optional /proc parts for the process c describes.
func guidedReads(g *engine.Guide, c proctable.Clue) procfs.Fields {
	k := engine.Known{Name: c.Name, Exe: c.Exe, ContainerID: c.ContainerID}
	var f procfs.Fields
	if g.Needs(engine.GroupStdio, k) {
		f |= procfs.FieldStdio
	}
	if c.Dup {
		k.Type = event.TypeDup
		if g.Needs(engine.GroupDupFD, k) {
			f |= procfs.FieldStdio
		}
		return f
	}
	if g.Needs(engine.GroupEnv, k) {
		f |= procfs.FieldEnv
	}
	if g.Needs(engine.GroupCaps, k) {
		f |= procfs.FieldCaps
	}
	return f
}
