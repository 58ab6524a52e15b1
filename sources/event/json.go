package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
func UnmarshalJSON(b []byte, ev *Event) error {
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

// MaxLineSize bounds one JSON line (an execve with a huge argv).
const MaxLineSize = 4 << 20

// ReadJSONLines decodes JSON-lines events from r, calling emit for each.
// Blank lines and lines starting with '#' are skipped. A bad line stops the
// read with an error naming name:LINE; events before it were already emitted.
func ReadJSONLines(r io.Reader, name string, emit func(*Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLineSize)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		ev := new(Event)
		if err := UnmarshalJSON(b, ev); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return nil
}
