package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrMalformed reports a /proc file that does not have the expected shape.
var ErrMalformed = errors.New("malformed proc file")

// Stat is what ruled uses of /proc/PID/stat.
type Stat struct {
	PID       int
	Comm      string
	State     byte
	PPID      int
	PGRP      int
	SID       int
	TTYNr     int    // controlling terminal device number; 0 = none
	StartTime uint64 // clock ticks after boot
}

// ParseStat parses /proc/PID/stat.
func ParseStat(r io.Reader) (Stat, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return Stat{}, fmt.Errorf("read stat: %w", err)
	}
	return parseStat(b)
}

// ParseStatBytes is ParseStat over the file's bytes (one allocation: comm).
func ParseStatBytes(b []byte) (Stat, error) { return parseStat(b) }

// parseStat parses stat from bytes. comm is in parentheses and may itself
// contain spaces and ')', so the fields resume after the last ')'.
func parseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return s, fmt.Errorf("stat: no comm: %w", ErrMalformed)
	}
	pid, err := atoi(bytes.TrimSpace(b[:open]))
	if err != nil {
		return s, fmt.Errorf("stat: pid: %w", ErrMalformed)
	}
	s.PID = pid
	s.Comm = string(b[open+1 : closing])
	rest := b[closing+1:]
	// Fields after comm, 0-based: 0 state, 1 ppid, 2 pgrp, 3 session,
	// 4 tty_nr, ... 19 starttime.
	var idx int
	for len(rest) > 0 && idx <= 19 {
		rest = bytes.TrimLeft(rest, " ")
		if len(rest) == 0 {
			break
		}
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		f := rest[:end]
		rest = rest[end:]
		if len(rest) > 0 && rest[0] == '\n' {
			rest = rest[1:]
		}
		switch idx {
		case 0:
			if len(f) != 1 {
				return s, fmt.Errorf("stat: state %q: %w", f, ErrMalformed)
			}
			s.State = f[0]
		case 1, 2, 3, 4:
			v, err := atoi(f)
			if err != nil {
				return s, fmt.Errorf("stat: field %d: %w", idx+3, ErrMalformed)
			}
			switch idx {
			case 1:
				s.PPID = v
			case 2:
				s.PGRP = v
			case 3:
				s.SID = v
			case 4:
				s.TTYNr = v
			}
		case 19:
			v, err := strconv.ParseUint(string(f), 10, 64)
			if err != nil {
				return s, fmt.Errorf("stat: starttime: %w", ErrMalformed)
			}
			s.StartTime = v
		}
		idx++
	}
	if idx <= 19 {
		return s, fmt.Errorf("stat: %d fields: %w", idx+2, ErrMalformed)
	}
	return s, nil
}

// atoi parses a decimal int without allocating.
func atoi(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 19 {
		return 0, ErrMalformed
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, ErrMalformed
		}
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, ErrMalformed
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

// Status is what ruled uses of /proc/PID/status.
type Status struct {
	Name       string
	TGID       int
	PID        int
	PPID       int
	UID, EUID  int // real and effective
	GID, EGID  int
	NSpid      []int // pid in each pid namespace, outermost first
	HasNSpid   bool
	HasUIDLine bool
	// Capability sets (CapEff, CapPrm, CapInh): bit N is capability N.
	CapEff, CapPrm, CapInh uint64
}

// VPID is the pid in the innermost pid namespace (the container's), or PID
// when the kernel gave no NSpid line.
func (s *Status) VPID() int {
	if len(s.NSpid) > 0 {
		return s.NSpid[len(s.NSpid)-1]
	}
	return s.PID
}

// ParseStatus parses /proc/PID/status.
func ParseStatus(r io.Reader) (Status, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return Status{}, fmt.Errorf("read status: %w", err)
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Status, error) {
	var s Status
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		key, val := line[:colon], bytes.TrimSpace(line[colon+1:])
		var err error
		switch string(key) {
		case "Name":
			s.Name = string(val)
		case "Tgid":
			s.TGID, err = atoi(val)
		case "Pid":
			s.PID, err = atoi(val)
		case "PPid":
			s.PPID, err = atoi(val)
		case "Uid":
			s.UID, s.EUID, err = twoIDs(val)
			s.HasUIDLine = err == nil
		case "Gid":
			s.GID, s.EGID, err = twoIDs(val)
		case "CapEff":
			s.CapEff, err = strconv.ParseUint(string(val), 16, 64)
		case "CapPrm":
			s.CapPrm, err = strconv.ParseUint(string(val), 16, 64)
		case "CapInh":
			s.CapInh, err = strconv.ParseUint(string(val), 16, 64)
		case "NSpid":
			s.HasNSpid = true
			s.NSpid = s.NSpid[:0]
			for f := range bytes.FieldsSeq(val) {
				v, perr := atoi(f)
				if perr != nil {
					err = perr
					break
				}
				s.NSpid = append(s.NSpid, v)
			}
		}
		if err != nil {
			return s, fmt.Errorf("status: %s: %w", key, ErrMalformed)
		}
	}
	if !s.HasUIDLine {
		return s, fmt.Errorf("status: no Uid line: %w", ErrMalformed)
	}
	return s, nil
}

// twoIDs returns the first two of "real effective saved fs".
func twoIDs(val []byte) (int, int, error) {
	var out [2]int
	n := 0
	for f := range bytes.FieldsSeq(val) {
		if n == 2 {
			break
		}
		v, err := atoi(f)
		if err != nil {
			return 0, 0, err
		}
		out[n] = v
		n++
	}
	if n < 2 {
		return 0, 0, ErrMalformed
	}
	return out[0], out[1], nil
}

// ParseCmdline splits /proc/PID/cmdline (NUL-separated argv) into args.
// A process that rewrote its argv area with spaces (setproctitle) yields one
// argument; that is what the kernel shows.
func ParseCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	n := bytes.Count(b, []byte{0}) + 1
	args := make([]string, 0, n)
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			args = append(args, string(b))
			break
		}
		args = append(args, string(b[:i]))
		b = b[i+1:]
	}
	return args
}
