package falcoplugin

import (
	"bytes"
	"io"
	"unsafe"

	"github.com/falcosecurity/plugin-sdk-go/pkg/sdk"
)

// fakeReader is an sdk.EventReader over bytes, counting Reader calls so
// tests can see that an event is decoded once.
type fakeReader struct {
	num   uint64
	ts    uint64
	data  []byte
	reads int
}

func (r *fakeReader) EventNum() uint64  { return r.num }
func (r *fakeReader) Timestamp() uint64 { return r.ts }
func (r *fakeReader) Reader() io.ReadSeeker {
	r.reads++
	return bytes.NewReader(r.data)
}

// fakeRequest is an sdk.ExtractRequest recording the value set.
type fakeRequest struct {
	id         uint64
	field      string
	key        string
	argPresent bool
	ftype      uint32
	list       bool

	value any
	set   bool
}

func newRequest(name, key string) *fakeRequest {
	for i, e := range FieldEntries() {
		if e.Name == name {
			r := &fakeRequest{id: uint64(i), field: name, key: key, argPresent: key != "", list: e.IsList}
			switch e.Type {
			case "string":
				r.ftype = sdk.FieldTypeCharBuf
			case "uint64":
				r.ftype = sdk.FieldTypeUint64
			case "bool":
				r.ftype = sdk.FieldTypeBool
			case "abstime":
				r.ftype = sdk.FieldTypeAbsTime
			}
			return r
		}
	}
	panic("no field " + name)
}

func (r *fakeRequest) FieldID() uint64       { return r.id }
func (r *fakeRequest) FieldType() uint32     { return r.ftype }
func (r *fakeRequest) Field() string         { return r.field }
func (r *fakeRequest) ArgKey() string        { return r.key }
func (r *fakeRequest) ArgIndex() uint64      { return 0 }
func (r *fakeRequest) ArgPresent() bool      { return r.argPresent }
func (r *fakeRequest) IsList() bool          { return r.list }
func (r *fakeRequest) SetValue(v any)        { r.value, r.set = v, true }
func (r *fakeRequest) SetPtr(unsafe.Pointer) {}
func (r *fakeRequest) reset()                { r.value, r.set = nil, false }

// fakeWriters is sdk.EventWriters over Go buffers.
type fakeWriters struct {
	ws    []*fakeWriter
	limit int // per-event size limit; 0 = none
}

type fakeWriter struct {
	buf   bytes.Buffer
	ts    uint64
	limit int
}

func newWriters(n, limit int) *fakeWriters {
	w := &fakeWriters{limit: limit}
	for range n {
		w.ws = append(w.ws, &fakeWriter{limit: limit})
	}
	return w
}

func (w *fakeWriters) Get(i int) sdk.EventWriter { return w.ws[i] }
func (w *fakeWriters) Len() int                  { return len(w.ws) }
func (w *fakeWriters) ArrayPtr() unsafe.Pointer  { return nil }
func (w *fakeWriters) Free()                     {}

func (w *fakeWriter) Writer() io.Writer { w.buf.Reset(); return w }
func (w *fakeWriter) Write(b []byte) (int, error) {
	if w.limit > 0 && w.buf.Len()+len(b) > w.limit {
		return 0, io.ErrShortBuffer
	}
	return w.buf.Write(b)
}
func (w *fakeWriter) SetTimestamp(v uint64) { w.ts = v }
