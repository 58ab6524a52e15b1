package engine

import (
	"unsafe"

	"github.com/ruled/ruled/sources/event"
)

// eventType is the type word of an interface holding an event.Event.
var eventType = func() unsafe.Pointer {
	proto := any(event.Event{Evt: event.Evt{Type: "x"}}) // non-zero: a real heap box
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&proto))[0]
}()

// boxEvent returns an interface holding an event.Event value whose storage
// is *p. expr runs fastest on a struct environment passed by value, but
// converting an Event (over a kilobyte) to `any` allocates and copies on
// every evaluation, and copying it into a reused box costs a copy and a
// clear per event. An interface of a non-pointer-shaped type is a type word
// and a pointer to the value, so pointing that word at the event itself
// boxes nothing and copies nothing. expr only reads its environment; the
// interface must not outlive the evaluation it was made for.
func boxEvent(p *event.Event) any {
	var env any
	words := (*[2]unsafe.Pointer)(unsafe.Pointer(&env))
	words[0] = eventType
	words[1] = unsafe.Pointer(p)
	return env
}

// stringType is the type word of an interface holding a string.
var stringType = func() unsafe.Pointer {
	proto := any("x")
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&proto))[0]
}()

// boxString returns an interface holding the string *p, pointing at *p
// instead of a copy: an alert's output_fields hold several strings, and
// converting each to `any` allocated it a box; their headers now share one
// slice. *p must not change while the interface lives.
func boxString(p *string) any {
	var v any
	words := (*[2]unsafe.Pointer)(unsafe.Pointer(&v))
	words[0] = stringType
	words[1] = unsafe.Pointer(p)
	return v
}
