package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ruled/ruled/sources/sensors/lines"
)

// MarshalJSONLine encodes ev as one JSON line (with trailing newline), the
// -replay and `ruled events` format.
func MarshalJSONLine(ev *Event) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// UnmarshalJSON decodes one JSON event strictly: an unknown field is an error,
// so a typo in a recorded or hand-written event does not silently vanish.
// The usual event takes a reflection-free path; the result and the error
// are encoding/json's on every input.
func UnmarshalJSON(b []byte, ev *Event) error {
	if isZero(ev) {
		return unmarshalNew(b, ev)
	}
	return unmarshalStd(b, ev)
}

// unmarshalNew is UnmarshalJSON into a zero ev.
func unmarshalNew(b []byte, ev *Event) error {
	if fastDecode(b, ev) {
		return nil
	}
	*ev = Event{}
	return unmarshalStd(b, ev)
}

func unmarshalStd(b []byte, ev *Event) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(ev); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after event")
	}
	return nil
}

// UnmarshalJSONLenient decodes one JSON event as json.Unmarshal does:
// unknown fields are ignored, so an event written by another ruled
// version still yields every field both know.
func UnmarshalJSONLenient(b []byte, ev *Event) error {
	if isZero(ev) {
		if fastDecode(b, ev) {
			return nil
		}
		*ev = Event{}
	}
	return json.Unmarshal(b, ev)
}

// MaxLineSize bounds one JSON line (an execve with a huge argv).
const MaxLineSize = 4 << 20

// LineError is one line of input that could not be read or decoded.
type LineError struct {
	Name string // file name
	Line int    // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// ReadJSONLines decodes JSON-lines events from r, calling emit for each.
// Blank lines and lines starting with '#' are skipped. A bad line stops the
// read with a *LineError naming name:LINE; events before it were already
// emitted.
func ReadJSONLines(r io.Reader, name string, emit func(*Event) error) error {
	return ScanJSONLines(r, name, emit, func(e *LineError) error { return e })
}

// ScanJSONLines is ReadJSONLines that hands each bad line (broken JSON,
// unknown field, longer than MaxLineSize) to bad and reads on; it stops
// when bad or emit returns an error, and returns that error.
func ScanJSONLines(r io.Reader, name string, emit func(*Event) error, bad func(*LineError) error) error {
	lr := lines.NewReader(r, MaxLineSize)
	for {
		b, line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			le := &LineError{Name: name, Line: line, Err: err}
			if !errors.Is(err, lines.ErrTooLong) {
				return le // the input itself failed
			}
			if err := bad(le); err != nil {
				return err
			}
			continue
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		ev := new(Event)
		if err := unmarshalNew(b, ev); err != nil {
			if err := bad(&LineError{Name: name, Line: line, Err: err}); err != nil {
				return err
			}
			continue
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
}
