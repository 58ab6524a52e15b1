package audit

// seqWindow is how far below the newest serial a late record may still
// fill its gap: records of events finishing on other CPUs interleave, a
// few serials out of order.
const seqWindow = 1 << 16

// seqGaps counts the audit serials ruled never received. The kernel
// numbers each event it logs from one counter; an event whose records are
// all lost after numbering (an overrun of the netlink socket, which tells
// only that some were lost, not how many, or kauditd's hold queue
// overflowing behind a stalled reader) leaves a gap. A gap
// filled by a record arriving out of order, within seqWindow, is taken
// back. Records the kernel lost before numbering them (backlog overflow)
// leave no gap: audit's lost counter has them.
//
// Not safe for concurrent use.
type seqGaps struct {
	started bool
	first   uint64
	hi      uint64
	seen    [seqWindow / 64]uint64
	// Missing is the number of serials between the first and the newest
	// received that have not come.
	Missing uint64
}

func (g *seqGaps) bit(s uint64) (word int, mask uint64) {
	i := s % seqWindow
	return int(i / 64), 1 << (i % 64)
}

// Observe notes one record's serial.
func (g *seqGaps) Observe(s uint64) {
	switch {
	case !g.started || (s < g.hi && g.hi-s >= seqWindow && s < g.first):
		// First record, or the counter started again (far below
		// anything seen): count from here.
		*g = seqGaps{started: true, first: s, hi: s, Missing: g.Missing}
		w, m := g.bit(s)
		g.seen[w] |= m
	case s > g.hi:
		if s-g.hi > seqWindow {
			g.Missing += s - g.hi - 1
			clear(g.seen[:])
		} else {
			for x := g.hi + 1; x < s; x++ {
				w, m := g.bit(x)
				g.seen[w] &^= m
				g.Missing++
			}
		}
		g.hi = s
		w, m := g.bit(s)
		g.seen[w] |= m
	case s < g.first || g.hi-s >= seqWindow:
		// Before counting began, or too late to take back.
	default:
		w, m := g.bit(s)
		if g.seen[w]&m == 0 {
			g.seen[w] |= m
			g.Missing--
		}
	}
}
