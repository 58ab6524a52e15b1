package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// sighting is one report of a storm operation by an agent: an alert line
// of ruled, or a SYSCALL record of auditd.
type sighting struct {
	pid int
	at  time.Time // when the harness read the line
	// complete: the report names the executable, argv and container (for
	// an exec), which is what ruled's rules need.
	complete bool
}

// lineParser turns one output line into a sighting; ok is false for lines
// that are not about the storm.
type lineParser func(line []byte) (s sighting, ok bool)

// tailer follows a file an agent appends to, from a starting offset,
// stamping each complete line with the time it was read.
type tailer struct {
	path  string
	parse lineParser

	mu    sync.Mutex
	off   int64
	part  []byte
	seen  []sighting
	lines int // every line read, for the storm or not
}

// newTailer starts at the file's current end: what was written before
// (a readiness probe, an earlier storm) is not counted.
func newTailer(path string, parse lineParser) *tailer {
	t := &tailer{path: path, parse: parse}
	if fi, err := os.Stat(path); err == nil {
		t.off = fi.Size()
	}
	return t
}

// poll reads what was appended since the last call.
func (t *tailer) poll() error {
	f, err := os.Open(t.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // not created yet
		}
		return err
	}
	defer f.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	if fi, err := f.Stat(); err == nil && fi.Size() < t.off {
		return fmt.Errorf("%s shrank from %d to %d bytes (rotated or truncated): counts would be wrong", t.path, t.off, fi.Size())
	}
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	now := time.Now()
	t.off += int64(len(b))
	b = append(t.part, b...)
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		t.lines++
		if s, ok := t.parse(b[:i]); ok {
			s.at = now
			t.seen = append(t.seen, s)
		}
		b = b[i+1:]
	}
	t.part = append(t.part[:0], b...)
	return nil
}

// follow polls every interval until stop is closed, then once more.
func (t *tailer) follow(stop <-chan struct{}, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := t.poll(); err != nil {
			return err
		}
		select {
		case <-stop:
			return t.poll()
		case <-tick.C:
		}
	}
}

// sightings returns a copy of what was seen so far.
func (t *tailer) sightings() []sighting {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]sighting(nil), t.seen...)
}

// alert is the part of a ruled JSON alert (Falco's shape) the harness reads.
type alert struct {
	Rule         string         `json:"rule"`
	OutputFields map[string]any `json:"output_fields"`
}

// ruledParser accepts the alerts of one of the harness's rules. An exec is
// complete when the alert carries the executable, the argv the spawner gave
// and a container id.
func ruledParser(rule string) lineParser {
	return func(line []byte) (sighting, bool) {
		if !bytes.Contains(line, []byte(rule)) {
			return sighting{}, false
		}
		var a alert
		if err := json.Unmarshal(line, &a); err != nil || a.Rule != rule {
			return sighting{}, false
		}
		pid, ok := a.OutputFields["proc.pid"].(float64)
		if !ok {
			return sighting{}, false
		}
		exe, _ := a.OutputFields["proc.exe"].(string)
		cmd, _ := a.OutputFields["proc.cmdline"].(string)
		cid, _ := a.OutputFields["container.id"].(string)
		complete := exe != "" && bytes.HasSuffix([]byte(cmd), []byte(" "+targetArg)) && cid != ""
		return sighting{pid: int(pid), complete: complete}, true
	}
}

// auditdParser accepts the SYSCALL records auditd writes for the harness's
// audit rule (its key). A record is complete when it names the executable.
func auditdParser(key string) lineParser {
	k := []byte(`key="` + key + `"`)
	return func(line []byte) (sighting, bool) {
		if !bytes.HasPrefix(line, []byte("type=SYSCALL ")) || !bytes.Contains(line, k) {
			return sighting{}, false
		}
		pid, ok := auditField(line, "pid")
		if !ok {
			return sighting{}, false
		}
		n, err := strconv.Atoi(string(pid))
		if err != nil {
			return sighting{}, false
		}
		exe, _ := auditField(line, "exe")
		return sighting{pid: n, complete: len(exe) > 2}, true
	}
}

// auditField returns the value of " name=" in an audit record line (quotes
// kept), or false.
func auditField(line []byte, name string) ([]byte, bool) {
	i := bytes.Index(line, []byte(" "+name+"="))
	if i < 0 {
		return nil, false
	}
	v := line[i+len(name)+2:]
	if j := bytes.IndexAny(v, " \x1d"); j >= 0 {
		v = v[:j]
	}
	return v, true
}
