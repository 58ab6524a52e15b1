package lines

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

type got struct {
	line string
	num  int
	long bool
}

func readAll(t *testing.T, in string, max, bufSize int) []got {
	t.Helper()
	r := NewReader(bufio.NewReaderSize(strings.NewReader(in), bufSize), max)
	var out []got
	for {
		b, n, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if errors.Is(err, ErrTooLong) {
			out = append(out, got{num: n, long: true})
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got{line: string(b), num: n})
	}
}

func TestLines(t *testing.T) {
	big := strings.Repeat("x", 100)
	in := "a\r\n\n" + big + "\nb\n" + strings.Repeat("y", 300) + "\nlast"
	want := []got{{"a", 1, false}, {"", 2, false}, {big, 3, false}, {"b", 4, false}, {"", 5, true}, {"last", 6, false}}
	// A buffer far smaller than the lines: long lines are put together
	// from several reads.
	for _, size := range []int{16, 4096} {
		out := readAll(t, in, 200, size)
		if len(out) != len(want) {
			t.Fatalf("buffer %d: got %v, want %v", size, out, want)
		}
		for i := range want {
			if out[i] != want[i] {
				t.Errorf("buffer %d: line %d: got %+v, want %+v", size, i, out[i], want[i])
			}
		}
	}
}

func TestLongLastLine(t *testing.T) {
	out := readAll(t, "ok\n"+strings.Repeat("z", 50), 10, 16)
	if len(out) != 2 || out[0].line != "ok" || !out[1].long || out[1].num != 2 {
		t.Fatalf("got %+v", out)
	}
}

// FuzzLines holds the reader to strings.Split on any input, bound and
// buffer size: every line in order, numbered, the ones over the bound
// reported as too long.
func FuzzLines(f *testing.F) {
	f.Add("a\r\nbb\n\nccc", 2, 16)
	f.Add(strings.Repeat("x", 40)+"\ny\n", 10, 16)
	f.Fuzz(func(t *testing.T, in string, max, bufSize int) {
		max, bufSize = 1+abs(max)%64, 16+abs(bufSize)%64
		pieces := strings.Split(in, "\n")
		if pieces[len(pieces)-1] == "" {
			pieces = pieces[:len(pieces)-1] // after the last newline: no line
		}
		var want []got
		for i, p := range pieces {
			p = strings.TrimSuffix(p, "\r")
			if len(p) > max {
				want = append(want, got{num: i + 1, long: true})
			} else {
				want = append(want, got{line: p, num: i + 1})
			}
		}
		out := readAll(t, in, max, bufSize)
		if len(out) != len(want) {
			t.Fatalf("max %d: %d lines %+v, want %d %+v", max, len(out), out, len(want), want)
		}
		for i := range want {
			if out[i] != want[i] {
				t.Fatalf("max %d: line %d: %+v, want %+v", max, i, out[i], want[i])
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
