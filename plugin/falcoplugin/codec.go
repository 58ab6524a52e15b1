package falcoplugin

import (
	"bytes"
	"encoding/json"

	"github.com/ruled/ruled/sources/event"
)

// encoder reuses one buffer across events; the bytes it returns are valid
// until the next encode.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// encode returns ev as one JSON line, the -replay format.
func (e *encoder) encode(ev *event.Event) ([]byte, error) {
	if e.enc == nil {
		e.enc = json.NewEncoder(&e.buf)
		e.enc.SetEscapeHTML(false)
	}
	e.buf.Reset()
	if err := e.enc.Encode(ev); err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}
