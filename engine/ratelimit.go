package engine

import (
	"sync"
	"time"
)

// RateLimit is a per-rule token bucket: Rate alerts per second on average,
// bursts of up to Burst. The zero value means DefaultRateLimit; a negative
// Rate disables limiting.
type RateLimit struct {
	Rate  float64
	Burst int
}

// DefaultRateLimit is generous: a flood is cut, a burst of real activity is
// not.
var DefaultRateLimit = RateLimit{Rate: 10, Burst: 100}

type bucket struct {
	mu      sync.Mutex
	started bool
	tokens  float64
	last    time.Time
	pending uint64 // suppressed since the last emitted alert
}

// take reports whether an alert may be emitted now and, if so, how many
// were suppressed since the previous one.
func (b *bucket) take(rl RateLimit, now time.Time) (bool, uint64) {
	if rl.Rate < 0 {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	burst := float64(rl.Burst)
	if !b.started {
		b.started, b.tokens = true, burst
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(burst, b.tokens+dt*rl.Rate)
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		n := b.pending
		b.pending = 0
		return true, n
	}
	b.pending++
	return false, 0
}
