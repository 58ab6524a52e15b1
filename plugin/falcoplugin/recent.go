package falcoplugin

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/ruled/ruled/sources/event"
)

// recent remembers the events next_batch handed to Falco lately, under the
// key written into each payload, so that extraction in the same process
// takes the event as it is instead of decoding its payload. Payloads read
// back from a capture file (another process, or long gone from the table)
// miss and are decoded.
type recent struct {
	mu    sync.Mutex
	slots [recentSize]recentSlot
}

// recentSize is well over what Falco holds between next_batch and the
// extraction of the batch (a batch is 128 events); the events it keeps
// alive are scanned by every garbage collection, so it stays small.
const recentSize = 512

type recentSlot struct {
	key uint64
	ev  *event.Event
}

// payloadKeys hands out the keys: unique in the process, and starting at a
// random point so that a capture's keys, read back by another process,
// meet this one's only by a 2^-64 chance.
var payloadKeys atomic.Uint64

func init() { payloadKeys.Store(rand.Uint64()) }

// nextKey returns a new key, never 0 (0 means "no key").
func nextKey() uint64 {
	for {
		if k := payloadKeys.Add(1); k != 0 {
			return k
		}
	}
}

func (r *recent) put(key uint64, ev *event.Event) {
	r.mu.Lock()
	r.slots[key%recentSize] = recentSlot{key, ev}
	r.mu.Unlock()
}

// get returns the event of a payload, or nil.
func (r *recent) get(payload []byte) *event.Event {
	key := payloadKey(payload)
	if key == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.slots[key%recentSize]; s.key == key {
		return s.ev
	}
	return nil
}

// payloadKey reads the key of a binary payload's header; 0 when there is
// none (JSON, a payload too short).
func payloadKey(b []byte) uint64 {
	if len(b) < payloadHeader || b[0] != payloadMagic || b[1] != payloadVersion {
		return 0
	}
	return binary.LittleEndian.Uint64(b[2:payloadHeader])
}
