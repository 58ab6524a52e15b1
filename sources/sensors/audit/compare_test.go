package audit

import (
	"testing"

	"github.com/elastic/go-libaudit/v2/aucoalesce"
	"github.com/elastic/go-libaudit/v2/auparse"
)

// BenchmarkLibauditCoalesceExec is the reference the lean normalizer is
// measured against: go-libaudit's auparse + aucoalesce on the same exec.
func BenchmarkLibauditCoalesceExec(b *testing.B) {
	group := benchExecGroup(b)
	b.ReportAllocs()
	for b.Loop() {
		msgs := make([]*auparse.AuditMessage, 0, len(group))
		for _, r := range group {
			m, err := auparse.Parse(auparse.AuditMessageType(r.Type), string(r.Data))
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, m)
		}
		ev, err := aucoalesce.CoalesceMessages(msgs)
		if err != nil {
			b.Fatal(err)
		}
		aucoalesce.ResolveIDs(ev)
	}
}
