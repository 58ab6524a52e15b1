package replay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/audit"
	"github.com/ruled/ruled/sources/sensors/lines"
)

// Source replays a file or reader. It implements sources.Source; Run returns
// nil at the end of the input.
type Source struct {
	path   string
	r      io.Reader
	name   string
	logger *slog.Logger

	events  atomic.Int64 // per event: no lock
	mu      sync.Mutex
	skipped int
	first   []string
}

// MaxNamed is how many skipped lines a replay names (FILE:LINE: reason);
// the rest are only counted.
const MaxNamed = 10

// New replays the file at path.
func New(path string, logger *slog.Logger) *Source {
	return &Source{path: path, name: path, logger: orDiscard(logger)}
}

// Open replays r; name is used in error messages (FILE:LINE).
func Open(r io.Reader, name string) *Source {
	return &Source{r: r, name: name, logger: orDiscard(nil)}
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return l
}

// Name implements sources.Source.
func (s *Source) Name() string { return "replay" }

// Stats is what a replay read.
type Stats struct {
	File    string
	Events  int      // events emitted
	Skipped int      // bad lines skipped
	First   []string // the first MaxNamed of them, "FILE:LINE: reason"
}

// Stats reports the lines read so far; complete once Run has returned.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{File: s.name, Events: int(s.events.Load()), Skipped: s.skipped, First: slices.Clone(s.first)}
}

// Summary is one line for the end of a run: what was replayed and what
// was skipped.
func (st Stats) Summary() string {
	if st.Skipped == 0 {
		return fmt.Sprintf("replay %s: %d events", st.File, st.Events)
	}
	lines := "lines"
	if st.Skipped == 1 {
		lines = "line"
	}
	return fmt.Sprintf("replay %s: %d events, %d bad %s skipped", st.File, st.Events, st.Skipped, lines)
}

func (s *Source) skip(le *event.LineError) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipped++
	if len(s.first) < MaxNamed {
		s.first = append(s.first, le.Error())
	}
	return nil
}

// errStop ends a read early when the context is cancelled.
var errStop = errors.New("replay stopped")

// Run reads the whole input, calling emit for each event in order. A bad
// line (broken JSON, an audit record that does not parse) is skipped and
// counted in Stats; only a failing read of the input stops it.
func (s *Source) Run(ctx context.Context, emit func(*event.Event)) error {
	r := s.r
	if r == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 64<<10)
	isJSON, err := detect(br)
	if err != nil {
		return fmt.Errorf("replay %s: %w", s.name, err)
	}
	each := func(ev *event.Event) error {
		if ctx.Err() != nil {
			return errStop
		}
		s.events.Add(1)
		emit(ev)
		return nil
	}
	if isJSON {
		s.logger.Info("replay: JSON lines events", "file", s.name)
		err = event.ScanJSONLines(br, s.name, each, s.skip)
	} else {
		s.logger.Info("replay: auditd log", "file", s.name)
		err = ScanAuditLog(br, s.name, each, s.skip)
	}
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// detect peeks at the first non-blank line: '{' starts JSON, anything else
// is taken as an audit log (whose parser then names a bad first line).
func detect(br *bufio.Reader) (bool, error) {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) == n {
			c := b[n-1]
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			case '{', '#':
				return true, nil
			default:
				return false, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// MaxLineSize bounds one audit log line. The kernel sends records of at
// most 8,970 bytes (MAX_AUDIT_MESSAGE_LENGTH, an EXECVE with huge args is
// split over several), which auditd's ENRICHED format can roughly double.
const MaxLineSize = 1 << 20

// ReadAuditLog parses an auditd log and emits its syscall events in order,
// normalized exactly as the live source does, with evt.source "replay".
// Records that are not syscall events (logins, config changes) are
// skipped. A line that does not parse stops it with a *event.LineError.
func ReadAuditLog(r io.Reader, name string, emit func(*event.Event) error) error {
	return ScanAuditLog(r, name, emit, func(e *event.LineError) error { return e })
}

// ScanAuditLog is ReadAuditLog that hands each bad line to bad and reads
// on; it stops when bad or emit returns an error.
func ScanAuditLog(r io.Reader, name string, emit func(*event.Event) error, bad func(*event.LineError) error) error {
	lr := lines.NewReader(r, MaxLineSize)
	re := &audit.Reassembler{Contiguous: true, MaxInFlight: 64}
	var emitErr error
	complete := func(g []audit.Record) {
		if emitErr != nil {
			return
		}
		if ev := audit.Normalize(g, event.SourceReplay); ev != nil {
			emitErr = emit(ev)
		}
	}
	var zero time.Time
	for {
		b, line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, lines.ErrTooLong) {
			return &event.LineError{Name: name, Line: line, Err: err} // the input itself failed
		}
		if err == nil {
			if len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			var rec audit.Record
			if rec, err = audit.ParseLogLine(b); err == nil {
				err = re.Push(rec, zero, complete)
			}
		}
		if emitErr != nil {
			return emitErr
		}
		if err != nil {
			if err := bad(&event.LineError{Name: name, Line: line, Err: err}); err != nil {
				return err
			}
		}
	}
	re.Flush(complete)
	return emitErr
}
