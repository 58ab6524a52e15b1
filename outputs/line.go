package outputs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// encodeLines appends one line per alert (readable or JSON) to dst. On an
// alert that cannot be encoded it returns the lines before it and that
// alert's index with a permanent error.
func encodeLines(dst []byte, batch []event.Alert, asJSON bool) ([]byte, int, error) {
	for i := range batch {
		if !asJSON {
			dst = AppendLine(dst, &batch[i])
			dst = append(dst, '\n')
			continue
		}
		var err error
		dst, err = AppendJSON(dst, &batch[i])
		if err != nil {
			return dst, i, &permanentError{fmt.Errorf("encode alert %q: %w", batch[i].Rule, err)}
		}
		dst = append(dst, '\n')
	}
	return dst, len(batch), nil
}

// lineSink writes the stdout and json outputs.
type lineSink struct {
	w    io.Writer
	json bool
	buf  []byte
}

func (s *lineSink) write(_ context.Context, batch []event.Alert) (int, error) {
	var n int
	var encErr error
	s.buf, n, encErr = encodeLines(s.buf[:0], batch, s.json)
	if len(s.buf) > 0 {
		if _, err := s.w.Write(s.buf); err != nil {
			return 0, fmt.Errorf("write: %w", err)
		}
	}
	return n, encErr
}

func (s *lineSink) close() error { return nil }

// fileSink appends JSON lines to a file that logrotate may rename: reopen
// (SIGHUP) starts a new file at the path, and a write also reopens when it
// notices, at most once a second, that the path no longer names the open
// file.
type fileSink struct {
	path string
	mu   sync.Mutex
	f    *os.File
	buf  []byte
	// lastCheck is when the path was last compared with the open file.
	lastCheck time.Time
}

func openFileSink(path string) (*fileSink, error) {
	s := &fileSink{path: path}
	if err := s.reopen(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSink) openLocked() error {
	// 0600: alerts carry command lines, which may hold secrets.
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f = f
	s.lastCheck = time.Now()
	return nil
}

func (s *fileSink) reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openLocked()
}

// checkLocked reopens when the file at path is gone or is another file.
func (s *fileSink) checkLocked() {
	if s.f != nil && time.Since(s.lastCheck) < time.Second {
		return
	}
	s.lastCheck = time.Now()
	if s.f != nil {
		st, err1 := os.Stat(s.path)
		cur, err2 := s.f.Stat()
		if err1 == nil && err2 == nil && os.SameFile(st, cur) {
			return
		}
	}
	_ = s.openLocked() // on failure the write below reports it
}

func (s *fileSink) write(_ context.Context, batch []event.Alert) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkLocked()
	if s.f == nil {
		return 0, fmt.Errorf("file %s is not open", s.path)
	}
	var n int
	var encErr error
	s.buf, n, encErr = encodeLines(s.buf[:0], batch, true)
	if len(s.buf) > 0 {
		if w, err := s.f.Write(s.buf); err != nil {
			// A full disk takes part of a write: keep the whole lines it
			// took, cut the torn one, so the file stays JSON lines and a
			// retry does not follow half an alert. The file is opened for
			// appending, so the torn part is its last w-keep bytes; the
			// size is asked only now, not before every write.
			done, keep := wholeLines(s.buf[:w])
			if w > keep {
				st, serr := s.f.Stat()
				if serr == nil {
					serr = s.f.Truncate(st.Size() - int64(w-keep))
				}
				if serr != nil {
					err = errors.Join(err, fmt.Errorf("cut a partial line: %w", serr))
				}
			}
			return done, fmt.Errorf("write %s: %w", s.path, err)
		}
	}
	return n, encErr
}

// wholeLines returns how many complete lines b holds and their length.
func wholeLines(b []byte) (lines, n int) {
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		return 0, 0
	}
	return bytes.Count(b[:i+1], []byte{'\n'}), i + 1
}

func (s *fileSink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
