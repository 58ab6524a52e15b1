package audit

import "testing"

func TestSeqGaps(t *testing.T) {
	tests := []struct {
		name string
		seqs []uint64
		want uint64
	}{
		{"in order, records of one event repeat", []uint64{10, 10, 11, 11, 12}, 0},
		{"one event never came", []uint64{10, 11, 13}, 1},
		{"out of order fills its gap", []uint64{10, 12, 11, 13}, 0},
		{"a repeat of a late one counts once", []uint64{10, 13, 11, 11, 12}, 0},
		{"an overrun lost a run", []uint64{100, 101, 600, 601}, 498},
		{"before the first is not taken back", []uint64{100, 102, 99}, 1},
		{"a jump past the window", []uint64{5, 5 + seqWindow + 10}, seqWindow + 9},
		{"too late to take back", []uint64{1, 3, 3 + seqWindow, 2}, seqWindow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g seqGaps
			for _, s := range tt.seqs {
				g.Observe(s)
			}
			if g.Missing != tt.want {
				t.Errorf("missing %d, want %d", g.Missing, tt.want)
			}
		})
	}
}
