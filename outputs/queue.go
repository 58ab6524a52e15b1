package outputs

import (
	"sync"

	"github.com/ruled/ruled/sources/event"
)

// queue is a bounded FIFO ring of alerts that never blocks the producer:
// when full, push overwrites the oldest alert and counts it as dropped,
// because under a flood the newest alerts say most about what is happening
// now.
type queue struct {
	mu      sync.Mutex
	buf     []event.Alert
	head    int // index of the oldest alert
	n       int // alerts held
	closed  bool
	dropped uint64
	// ready holds a token while the queue may be non-empty or was closed;
	// capacity 1 so push never blocks on it.
	ready chan struct{}
}

func newQueue(size int) *queue {
	return &queue{buf: make([]event.Alert, size), ready: make(chan struct{}, 1)}
}

// push appends a; it reports false when the queue was closed (a is dropped
// and counted).
func (q *queue) push(a *event.Alert) bool {
	q.mu.Lock()
	if q.closed {
		q.dropped++
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.buf) {
		q.buf[q.head] = event.Alert{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		q.dropped++
	}
	q.buf[(q.head+q.n)%len(q.buf)] = *a
	q.n++
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take appends alerts to dst until it holds max and returns it, plus
// whether the queue is closed.
func (q *queue) take(dst []event.Alert, max int) ([]event.Alert, bool) {
	q.mu.Lock()
	for q.n > 0 && len(dst) < max {
		dst = append(dst, q.buf[q.head])
		q.buf[q.head] = event.Alert{} // release output_fields maps
		q.head = (q.head + 1) % len(q.buf)
		q.n--
	}
	closed := q.closed
	if q.n > 0 || closed {
		// Leave the token so the next wait does not sleep while alerts
		// remain.
		q.mu.Unlock()
		q.signal()
		return dst, closed
	}
	q.mu.Unlock()
	return dst, closed
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// discard empties the queue, counting what it held as dropped.
func (q *queue) discard() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.n
	for q.n > 0 {
		q.buf[q.head] = event.Alert{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
	}
	q.dropped += uint64(n)
	return n
}

func (q *queue) droppedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
