package procconn

import (
	"bytes"
	"testing"
)

// TestRing: what is put comes out in order, whole, across the wrap of the
// data area; a put that does not fit is dropped and counted, and fits
// again once the consumer has taken; a layout that is not a power of two
// is refused.
func TestRing(t *testing.T) {
	mem := make([]byte, ringHeader+64)
	r, err := newRing(mem)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	var want []byte
	for i := range 40 {
		b := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i%23)
		if !r.put(b) {
			t.Fatalf("put %d of %d bytes did not fit into an empty ring", i, len(b))
		}
		want = append(want, b...)
		got = r.take(got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("took %q, want %q", got, want)
	}
	if !r.put(make([]byte, 40)) || r.put(make([]byte, 25)) {
		t.Fatal("40 then 25 bytes into 64: the second should not fit")
	}
	if d := r.dropped.Load(); d != 1 {
		t.Errorf("dropped %d, want 1", d)
	}
	if got := r.take(nil); len(got) != 40 {
		t.Errorf("took %d bytes, want 40", len(got))
	}
	if !r.put(make([]byte, 64)) {
		t.Error("a put of the whole ring, once empty, did not fit")
	}
	if got := r.take(nil); len(got) != 64 {
		t.Errorf("took %d bytes of a full ring, want 64", len(got))
	}
	if got := r.take(nil); got != nil {
		t.Errorf("took %d bytes of an empty ring", len(got))
	}
	// A head beyond what the data can hold is not the producer's: it is
	// skipped and counted, not read past the ring.
	r.head.Store(r.tail.Load() + 65)
	if got := r.take(nil); got != nil || r.dropped.Load() != 2 {
		t.Errorf("a corrupt head: took %d bytes, dropped %d", len(got), r.dropped.Load())
	}
	if _, err := newRing(make([]byte, ringHeader+48)); err == nil {
		t.Error("a ring of 48 bytes of data was accepted")
	}
}
