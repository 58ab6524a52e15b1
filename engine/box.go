package engine

import (
	"unsafe"

	"github.com/ruled/ruled/sources/event"
)

// boxEvent returns an interface holding an event.Event value whose storage
// is *p. expr runs fastest on a struct environment passed by value, but
// converting an Event (several hundred bytes) to `any` allocates and copies
// on every evaluation. An interface of a non-pointer-shaped type is a type
// word and a pointer to the value, so pointing that word at a reused Event
// lets Eval refill *p and box nothing: 0 allocations when no rule matches.
// The interface must never escape the evalState that owns p.
func boxEvent(p *event.Event) any {
	proto := any(event.Event{Evt: event.Evt{Type: "x"}}) // non-zero: a real heap box
	var env any
	words := (*[2]unsafe.Pointer)(unsafe.Pointer(&env))
	words[0] = (*[2]unsafe.Pointer)(unsafe.Pointer(&proto))[0]
	words[1] = unsafe.Pointer(p)
	return env
}
