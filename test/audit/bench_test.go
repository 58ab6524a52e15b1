package audit

import (
	"context"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/sources/sensors/audit"
)

// BenchmarkLiveExecFlood runs the real source (unicast, default rules) while
// a shell loop execs /bin/true b.N times, and reports how many of the execs
// arrived as events, what was lost and the source's CPU time per exec. Run as root with test/setup.sh done:
//
//	go test -run '^$' -bench LiveExecFlood -benchtime 5000x ./test/audit
func BenchmarkLiveExecFlood(b *testing.B) {
	if pgrepAuditd() != 0 {
		b.Skip("an audit daemon is running")
	}
	src, err := audit.New(audit.Config{Mode: audit.ModeUnicast}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var execs atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(ev *event.Event) {
			if ev.Evt.Type == event.TypeExecve && ev.Proc.Exe == "/usr/bin/true" {
				execs.Add(1)
			}
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	for src.Stats().RulesInstalled == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	n := b.N
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	start := time.Now()
	if out, err := exec.Command("/bin/bash", "-c", "for ((i=0;i<"+strconv.Itoa(n)+";i++)); do /bin/true; done").CombinedOutput(); err != nil {
		b.Fatalf("exec loop: %v %s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for execs.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	st := src.Stats()
	b.ReportMetric(float64(n)/el.Seconds(), "execs/s")
	b.ReportMetric(float64(execs.Load())/float64(n)*100, "%seen")
	// CPU of this process (the source; the children are not counted).
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/exec")
	b.ReportMetric(float64(st.Records)/float64(n), "records/exec")
	b.ReportMetric(float64(st.QueueDrops+st.SocketDrops+st.ReassemblyLost), "drops")
}
