// Package lines reads newline-terminated records of any length up to a
// bound, and reads on past a line over the bound instead of stopping (as
// bufio.Scanner does with "token too long").
package lines

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrTooLong is wrapped by the error for a line longer than the bound.
var ErrTooLong = errors.New("line too long")

// Reader hands out one line at a time.
type Reader struct {
	br   *bufio.Reader
	max  int
	line int
	long []byte
}

// NewReader reads lines from r; a line longer than max bytes (newline
// excluded) is reported with ErrTooLong and skipped. A *bufio.Reader is
// used as it is (so bytes it has already buffered are not lost).
func NewReader(r io.Reader, max int) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{br: br, max: max}
}

// Next returns the next line without its line ending ("\n" or "\r\n") and
// its 1-based number. The bytes are valid until the next call. At the end
// of the input it returns io.EOF; a last line without a newline is still a
// line. A line over the bound returns an error wrapping ErrTooLong, and
// the next call continues after it; other read errors are final.
func (r *Reader) Next() (line []byte, num int, err error) {
	r.long = r.long[:0]
	b, err := r.br.ReadSlice('\n')
	for errors.Is(err, bufio.ErrBufferFull) {
		if len(r.long)+len(b) > r.max+2 {
			// Over the bound: discard the rest of this line.
			total := len(r.long) + len(b)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = r.br.ReadSlice('\n')
				total += len(b)
			}
			r.line++
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, r.line, err
			}
			return nil, r.line, fmt.Errorf("%w: over %d bytes (%d+)", ErrTooLong, r.max, total)
		}
		r.long = append(r.long, b...)
		b, err = r.br.ReadSlice('\n')
	}
	if len(r.long) > 0 {
		r.long = append(r.long, b...)
		b = r.long
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, r.line + 1, err
	}
	if len(b) == 0 && err != nil {
		return nil, r.line, io.EOF
	}
	r.line++
	b = bytes.TrimSuffix(b, []byte{'\n'})
	b = bytes.TrimSuffix(b, []byte{'\r'})
	if len(b) > r.max {
		return nil, r.line, fmt.Errorf("%w: over %d bytes (%d)", ErrTooLong, r.max, len(b))
	}
	return b, r.line, nil
}
