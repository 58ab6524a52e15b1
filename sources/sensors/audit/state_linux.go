package audit

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"
)

// Recovered is what a recovery found and put back.
type Recovered struct {
	Runs         []int    // dead runs whose state was put back
	RulesRemoved int      // their rules deleted (per-container copies included)
	Settings     []string // settings set back, as "name=value"
	Live         []int    // runs still alive, left alone
	// Missing counts rules loaded when a dead run started that are gone
	// now: not ruled's doing (it deletes only its own), so only reported.
	Missing int
}

// Recover puts back the audit state of every run recorded in dir whose
// owner is dead (killed, OOM-killed, crashed before restoring): it deletes
// every rule the run added and sets back each setting it changed to what
// the run found, then removes the record. Runs still alive are left alone.
// It is what `ruled recover` runs, and what every start of the audit source
// does before it changes anything.
func Recover(dir string, logger *slog.Logger) (Recovered, error) {
	ctl, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return Recovered{}, fmt.Errorf("open audit control socket: %w", err)
	}
	defer ctl.Close()
	return recoverDead(ctl, dir, logger)
}

func recoverDead(ctl *libaudit.AuditClient, dir string, logger *slog.Logger) (Recovered, error) {
	var rec Recovered
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return rec, nil
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return rec, err
	}
	defer unlock()
	states, err := ReadStates(dir)
	errs := []error{err}
	proc := os.DirFS("/proc")
	for _, st := range states {
		if !st.Dead(proc) {
			rec.Live = append(rec.Live, st.PID)
			continue
		}
		n, set, missing, err := restoreDead(ctl, st)
		rec.RulesRemoved += n
		rec.Missing += missing
		if missing > 0 {
			logger.Warn("audit rules loaded before a dead run are gone; not re-adding what someone else deleted", "dead_pid", st.PID, "missing", missing)
		}
		rec.Settings = append(rec.Settings, set...)
		if err != nil {
			errs = append(errs, fmt.Errorf("recover run %d: %w", st.PID, err))
			continue
		}
		if err := RemoveState(dir, st.PID); err != nil {
			errs = append(errs, err)
			continue
		}
		rec.Runs = append(rec.Runs, st.PID)
		logger.Warn("audit state of a dead run put back", "dead_pid", st.PID, "mode", st.Mode, "rules_removed", n, "settings", set)
	}
	return rec, errors.Join(errs...)
}

// lockDir serializes recoveries (a start, `ruled recover` from systemd and
// the guardian of a run that just died may all try at once).
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit state lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit state lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// restoreDead deletes the dead run's rules and sets back what it changed.
func restoreDead(ctl *libaudit.AuditClient, st State) (removed int, set []string, missing int, err error) {
	loaded, err := ctl.GetRules()
	if err != nil {
		return 0, nil, 0, fmt.Errorf("list audit rules: %w", err)
	}
	var errs []error
	for _, w := range loaded {
		if pid, ok := ExcludedPID(w); !ok || pid != st.PID {
			continue
		}
		if err := ctl.DeleteRule(w); err != nil {
			errs = append(errs, fmt.Errorf("delete audit rule: %w", err))
			continue
		}
		removed++
	}
	// go-libaudit's DeleteRule does not check the kernel's answer.
	left, err := ctl.GetRules()
	if err != nil {
		return removed, nil, 0, fmt.Errorf("list audit rules: %w", err)
	}
	for _, w := range left {
		if pid, ok := ExcludedPID(w); ok && pid == st.PID {
			errs = append(errs, errors.New("a rule of the dead run is still loaded"))
			break
		}
	}
	for _, w := range st.Rules {
		if !containsRule(left, w) {
			missing++
		}
	}
	for _, name := range st.Sets {
		var err error
		var v uint32
		switch name {
		case SetEnabled:
			v = st.Found.Enabled
			err = ctl.SetEnabled(v == 1, libaudit.WaitForReply)
		case SetBacklogLimit:
			v = st.Found.BacklogLimit
			err = ctl.SetBacklogLimit(v, libaudit.WaitForReply)
		case SetBacklogWait:
			v = st.Found.BacklogWaitTime
			err = ctl.SetBacklogWaitTime(int32(v), libaudit.WaitForReply)
		case SetFailure:
			v = st.Found.Failure
			err = ctl.SetFailure(libaudit.FailureMode(v), libaudit.WaitForReply)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("restore audit %s=%d: %w", name, v, err))
			continue
		}
		set = append(set, name+"="+strconv.FormatUint(uint64(v), 10))
	}
	return removed, set, missing, errors.Join(errs...)
}
