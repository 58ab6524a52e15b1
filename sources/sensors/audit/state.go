package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/ruled/ruled/sources/enrichers/procfs"
)

// DefaultStateDir is where each run records the audit state it found. /run
// is emptied at boot, as is the kernel's audit state, so a record never
// outlives the state it describes.
const DefaultStateDir = "/run/ruled"

// Settings a run may change, as named in State.Sets.
const (
	SetEnabled      = "enabled"
	SetBacklogLimit = "backlog_limit"
	SetBacklogWait  = "backlog_wait_time"
	SetFailure      = "failure"
)

// Status is the part of the kernel's audit status a run may change or
// must leave alone (auditctl -s).
type Status struct {
	Enabled         uint32 `json:"enabled"`
	Failure         uint32 `json:"failure"`
	PID             uint32 `json:"pid"`
	RateLimit       uint32 `json:"rate_limit"`
	BacklogLimit    uint32 `json:"backlog_limit"`
	BacklogWaitTime uint32 `json:"backlog_wait_time"`
}

// State is what one run found before it changed anything, and what it is
// about to change. It is written (atomically) before the first change and
// removed once the run has put everything back, so a state file whose owner
// is dead means a run that did not get to restore: a SIGKILL, an OOM kill,
// a panic. Recovery then deletes every rule the dead run added (all carry
// its "-F pid!=OWNER" filter, the per-container copies too) and sets back
// the settings it changed.
type State struct {
	PID int `json:"pid"`
	// StartTime is the owner's start time (field 22 of /proc/PID/stat), so
	// a pid reused by another process does not pass for the owner.
	StartTime uint64 `json:"start_time"`
	Mode      string `json:"mode"`
	Found     Status `json:"found"`
	// Sets names the settings the run changes (Set* constants).
	Sets []string `json:"sets"`
	// Rules are the audit rules loaded when the run started (kernel wire
	// format), which recovery leaves in place and checks are still there.
	Rules [][]byte `json:"rules"`
}

// StateFile is the path of pid's state file in dir.
func StateFile(dir string, pid int) string {
	return filepath.Join(dir, "audit-"+strconv.Itoa(pid)+".json")
}

// WriteState records st in dir so that a crash cannot lose it: written to
// a temporary file, synced, renamed over the final name, directory synced.
func WriteState(dir string, st State) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit state dir: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode audit state: %w", err)
	}
	f, err := os.CreateTemp(dir, ".audit-*.tmp")
	if err != nil {
		return fmt.Errorf("audit state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	final := StateFile(dir, st.PID)
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("audit state: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit state dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// RemoveState deletes pid's state file; a missing one is not an error.
func RemoveState(dir string, pid int) error {
	err := os.Remove(StateFile(dir, pid))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove audit state: %w", err)
	}
	return syncDir(dir)
}

// ReadStates returns the state files in dir, newest run first. A file that
// does not parse is reported in err (by name) and left out; the others are
// still returned. A missing dir has no states.
func ReadStates(dir string) ([]State, error) {
	names, err := filepath.Glob(filepath.Join(dir, "audit-*.json"))
	if err != nil {
		return nil, fmt.Errorf("audit state: %w", err)
	}
	var out []State
	var errs []error
	for _, n := range names {
		st, err := readState(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, st)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartTime > out[j].StartTime })
	return out, errors.Join(errs...)
}

func readState(path string) (State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, fmt.Errorf("audit state: %w", err)
	}
	var st State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	want := "audit-" + strconv.Itoa(st.PID) + ".json"
	if st.PID <= 0 || filepath.Base(path) != want {
		return State{}, fmt.Errorf("%s: owner pid %d does not match the file name", path, st.PID)
	}
	for _, s := range st.Sets {
		switch s {
		case SetEnabled, SetBacklogLimit, SetBacklogWait, SetFailure:
		default:
			return State{}, fmt.Errorf("%s: unknown setting %q in sets", path, s)
		}
	}
	return st, nil
}

// ProcStart reads a process's start time and whether it still runs (a
// zombie has exited: its files and sockets are closed). ok is false when
// there is no such process.
func ProcStart(proc fs.FS, pid int) (start uint64, running, ok bool) {
	st, err := procfs.New(proc).Stat(pid)
	if err != nil {
		return 0, false, false
	}
	return st.StartTime, st.State != 'Z' && st.State != 'X' && st.State != 'x', true
}

// Dead tells whether st's owner is gone: no such process, a process that
// exited (zombie), or a different process under a reused pid.
func (st State) Dead(proc fs.FS) bool {
	start, running, ok := ProcStart(proc, st.PID)
	return !ok || !running || start != st.StartTime
}

// Kernel struct audit_rule_data (linux/audit.h): flags, action,
// field_count, mask[64], fields[64], values[64], fieldflags[64], buflen, buf.
const (
	ruleFieldsOff     = 3*4 + 64*4
	ruleValuesOff     = ruleFieldsOff + 64*4
	ruleFieldFlagsOff = ruleValuesOff + 64*4
	ruleHeaderLen     = ruleFieldFlagsOff + 64*4 + 4
	auditFieldPID     = 0          // AUDIT_PID
	auditNotEqual     = 0x30000000 // AUDIT_NOT_EQUAL
	auditOperators    = 0x78000000 // AUDIT_OPERATORS
)

// ExcludedPID returns the pid of a "-F pid!=PID" filter in a rule in
// kernel wire format: every rule a run adds carries one naming the run, so
// it tells whose rule it is. ok is false when the rule has none.
func ExcludedPID(wire []byte) (pid int, ok bool) {
	if len(wire) < ruleHeaderLen {
		return 0, false
	}
	ne := nativeEndian
	n := int(ne.Uint32(wire[8:]))
	for i := range min(n, 64) {
		field := ne.Uint32(wire[ruleFieldsOff+4*i:])
		op := ne.Uint32(wire[ruleFieldFlagsOff+4*i:]) & auditOperators
		if field == auditFieldPID && op == auditNotEqual {
			return int(ne.Uint32(wire[ruleValuesOff+4*i:])), true
		}
	}
	return 0, false
}
