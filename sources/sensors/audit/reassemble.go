package audit

import "time"

// Reassembler groups the records of one syscall event by sequence number.
// A group starts with its SYSCALL record (the kernel writes it first, in
// audit_log_exit) and ends with EOE. Records of other events (user messages,
// configuration changes) have no SYSCALL and are dropped on arrival: ruled
// only turns syscalls into events.
//
// The window is bounded: at most MaxInFlight groups wait for their EOE, and a
// group older than Timeout (lost EOE, or a kernel that lost records) is
// flushed as it is by Expire. Both are counted in Evicted.
//
// Not safe for concurrent use.
type Reassembler struct {
	// MaxInFlight bounds the groups waiting for EOE (default 1024).
	MaxInFlight int
	// Timeout flushes a group whose EOE has not come (default 2 s).
	Timeout time.Duration
	// Contiguous treats a record of another sequence as the end of every
	// pending group. auditd writes each event's records together and does
	// not write EOE, so log replay sets it.
	Contiguous bool

	// copyData keeps a copy of each record's text in its group's buffer
	// (reused from group to group) instead of the caller's slice, which
	// the caller may then reuse at once (the live receiver's batches).
	copyData bool

	pending []*group
	free    []*group
	// Evicted counts groups flushed without their EOE (window full or
	// timeout).
	Evicted uint64
	// Orphans counts records whose SYSCALL never came (ignored).
	Orphans uint64
	// OrphanEvents counts the events those records belonged to: events
	// the kernel numbered but whose SYSCALL record was lost (backlog
	// overflow), so they cannot be told.
	OrphanEvents uint64
	lastOrphan   uint64
}

type group struct {
	seq     uint64
	arrived time.Time
	records []Record
	buf     []byte // the records' text, with copyData
}

// Push adds one record. complete is called (synchronously) with the records
// of every group that this record completes or evicts; the slice is only
// valid during the call.
func (r *Reassembler) Push(rec Record, now time.Time, complete func([]Record)) error {
	_, seq, _, err := Header(rec.Data)
	if err != nil {
		return err
	}
	r.push(rec, seq, now, complete)
	return nil
}

// push is Push for a record whose header was already parsed (the live
// receiver reads every serial).
func (r *Reassembler) push(rec Record, seq uint64, now time.Time, complete func([]Record)) {
	if r.Contiguous && len(r.pending) > 0 && r.pending[len(r.pending)-1].seq != seq {
		r.flushAll(complete, false)
	}
	g := r.find(seq)
	switch {
	case g == nil && rec.Type == TypeSyscall:
		max := r.MaxInFlight
		if max <= 0 {
			max = 1024
		}
		for len(r.pending) >= max {
			r.Evicted++
			r.finish(0, complete)
		}
		g = r.alloc()
		g.seq, g.arrived = seq, now
		g.records = append(g.records, r.keep(g, rec))
		r.pending = append(r.pending, g)
	case g == nil:
		// A rule change logs CONFIG_CHANGE with the serial of the system
		// call that carried it, and no SYSCALL record unless a rule audits
		// that call (ruled's own container watches, auditctl): a record
		// of its own, not what is left of a lost event.
		if rec.Type != TypeEOE && rec.Type != TypeConfig {
			r.Orphans++
			if seq != r.lastOrphan || r.OrphanEvents == 0 {
				r.OrphanEvents++
				r.lastOrphan = seq
			}
		}
	case rec.Type == TypeEOE:
		for i, p := range r.pending {
			if p == g {
				r.finish(i, complete)
				break
			}
		}
	default:
		g.records = append(g.records, r.keep(g, rec))
	}
}

// keep returns rec as the group holds it: with copyData, its text copied
// into the group's buffer. When the buffer grows, the records before keep
// the old one (still valid); the grown one serves the next groups.
func (r *Reassembler) keep(g *group, rec Record) Record {
	if !r.copyData {
		return rec
	}
	off := len(g.buf)
	g.buf = append(g.buf, rec.Data...)
	rec.Data = g.buf[off:len(g.buf):len(g.buf)]
	return rec
}

// Expire flushes groups that waited longer than Timeout.
func (r *Reassembler) Expire(now time.Time, complete func([]Record)) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	for len(r.pending) > 0 && now.Sub(r.pending[0].arrived) > timeout {
		r.Evicted++
		r.finish(0, complete)
	}
}

// Flush completes every pending group (end of input). Without Contiguous
// they count as evicted, since their EOE never came.
func (r *Reassembler) Flush(complete func([]Record)) {
	r.flushAll(complete, !r.Contiguous)
}

// Pending is the number of groups waiting for their end.
func (r *Reassembler) Pending() int { return len(r.pending) }

func (r *Reassembler) flushAll(complete func([]Record), evicted bool) {
	for len(r.pending) > 0 {
		if evicted {
			r.Evicted++
		}
		r.finish(0, complete)
	}
}

// find searches from the newest group: records nearly always belong to one
// of the last few events.
func (r *Reassembler) find(seq uint64) *group {
	for i := len(r.pending) - 1; i >= 0; i-- {
		if r.pending[i].seq == seq {
			return r.pending[i]
		}
	}
	return nil
}

func (r *Reassembler) finish(i int, complete func([]Record)) {
	g := r.pending[i]
	copy(r.pending[i:], r.pending[i+1:])
	r.pending[len(r.pending)-1] = nil
	r.pending = r.pending[:len(r.pending)-1]
	complete(g.records)
	clear(g.records)
	g.records = g.records[:0]
	g.buf = g.buf[:0]
	if cap(g.buf) > 64<<10 {
		g.buf = nil // an exec with a huge argv: do not keep its copy
	}
	if len(r.free) < 64 {
		r.free = append(r.free, g)
	}
}

func (r *Reassembler) alloc() *group {
	if n := len(r.free); n > 0 {
		g := r.free[n-1]
		r.free = r.free[:n-1]
		return g
	}
	return &group{records: make([]Record, 0, 8)}
}
