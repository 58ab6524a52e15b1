package outputs

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkSend measures intake cost: one alert queued for two outputs
// (nobody drains, so the queues overflow and drop their oldest, the worst
// case).
func BenchmarkSend(b *testing.B) {
	s, err := NewStage([]Spec{{Raw: "json"}, {Raw: "file:" + b.TempDir() + "/a.json"}}, StageOptions{Stdout: io.Discard, QueueSize: 1024})
	if err != nil {
		b.Fatal(err)
	}
	a := testAlert()
	b.ReportAllocs()
	for b.Loop() {
		s.Send(a)
	}
}

// BenchmarkWebhook measures alerts/s delivered through the webhook output to
// a local server, with and without batching.
func BenchmarkWebhook(b *testing.B) {
	for _, bc := range []struct{ name, query string }{
		{"batch=off", ""},
		{"batch=100", "?batch_size=100&batch_wait=10ms"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			sp, err := ParseSpec("webhook+" + srv.URL + "/" + bc.query)
			if err != nil {
				b.Fatal(err)
			}
			sp.QueueSize = 1 << 20
			s, err := NewStage([]Spec{sp}, StageOptions{})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = s.Run(ctx); close(done) }()
			a := testAlert()
			b.ReportAllocs()
			start := time.Now()
			n := 0
			for b.Loop() {
				s.Send(a)
				n++
				// Keep the queue from overflowing: throughput is the point.
				for s.runners[0].q.len() > 10000 {
					time.Sleep(100 * time.Microsecond)
				}
			}
			for s.Stats()[0].Sent < uint64(n) {
				time.Sleep(100 * time.Microsecond)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "alerts/s")
			cancel()
			<-done
			if st := s.Stats()[0]; st.Dropped != 0 || st.Failed != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}

// BenchmarkAppendJSON is the file and json outputs' encoding of one alert.
func BenchmarkAppendJSON(b *testing.B) {
	a := testAlert()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendJSON(buf[:0], &a); err != nil {
			b.Fatal(err)
		}
	}
}
