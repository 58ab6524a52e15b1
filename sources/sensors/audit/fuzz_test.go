package audit

import (
	"bytes"
	"testing"
	"time"
)

// FuzzReassembler feeds lines (parsed as log records) through a small window
// and checks the window bound and that every group handed out starts with
// its SYSCALL record.
func FuzzReassembler(f *testing.F) {
	recs := loadRecords(f, "testdata/capture.log")
	var b bytes.Buffer
	for i, r := range recs[:60] {
		b.WriteString(FormatLogLine(r))
		b.WriteByte('\n')
		if i%12 == 11 {
			f.Add(b.Bytes(), uint8(3), false)
			b.Reset()
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, window uint8, contiguous bool) {
		re := &Reassembler{MaxInFlight: int(window%8) + 1, Contiguous: contiguous, Timeout: time.Second}
		now := time.Unix(1000, 0)
		check := func(g []Record) {
			if len(g) == 0 || g[0].Type != TypeSyscall {
				t.Fatalf("group without leading SYSCALL: %d records", len(g))
			}
			Normalize(g, "audit")
		}
		for _, line := range bytes.Split(in, []byte("\n")) {
			r, err := ParseLogLine(line)
			if err != nil {
				continue
			}
			if err := re.Push(r, now, check); err != nil {
				t.Fatal(err)
			}
			if re.Pending() > re.MaxInFlight {
				t.Fatalf("%d pending > window %d", re.Pending(), re.MaxInFlight)
			}
			now = now.Add(300 * time.Millisecond)
			re.Expire(now, check)
		}
		re.Flush(check)
		if re.Pending() != 0 {
			t.Fatal("pending after Flush")
		}
	})
}
