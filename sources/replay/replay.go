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
	"time"

	"github.com/ruled/ruled/sources/audit"
	"github.com/ruled/ruled/sources/event"
)

// Source replays a file or reader. It implements sources.Source; Run returns
// nil at the end of the input.
type Source struct {
	path   string
	r      io.Reader
	name   string
	logger *slog.Logger
}

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

// errStop ends a read early when the context is cancelled.
var errStop = errors.New("replay stopped")

// Run reads the whole input, calling emit for each event in order. A bad
// line stops it with an error naming FILE:LINE; the events before it have
// been emitted.
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
	if isJSON {
		s.logger.Info("replay: JSON lines events", "file", s.name)
		err := event.ReadJSONLines(br, s.name, func(ev *event.Event) error {
			if ctx.Err() != nil {
				return errStop
			}
			emit(ev)
			return nil
		})
		if errors.Is(err, errStop) {
			return nil
		}
		return err
	}
	s.logger.Info("replay: auditd log", "file", s.name)
	err = ReadAuditLog(br, s.name, func(ev *event.Event) error {
		if ctx.Err() != nil {
			return errStop
		}
		emit(ev)
		return nil
	})
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

// MaxLineSize bounds one audit log line (an EXECVE record with huge args is
// split by the kernel into records of at most ~8 KiB).
const MaxLineSize = 1 << 20

// ReadAuditLog parses an auditd log and emits its syscall events in order,
// normalized exactly as the live source does, with evt.source "replay".
// Records that are not syscall events (logins, config changes) are skipped.
func ReadAuditLog(r io.Reader, name string, emit func(*event.Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLineSize)
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
	line := 0
	var zero time.Time
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		rec, err := audit.ParseLogLine(b)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if err := re.Push(rec, zero, complete); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if emitErr != nil {
			return emitErr
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	re.Flush(complete)
	return emitErr
}
