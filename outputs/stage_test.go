package outputs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

func TestQueueDropsOldest(t *testing.T) {
	q := newQueue(3)
	for i := range 5 {
		a := event.Alert{Rule: fmt.Sprint(i)}
		q.push(&a)
	}
	got, closed := q.take(nil, 10)
	var rules []string
	for _, a := range got {
		rules = append(rules, a.Rule)
	}
	if strings.Join(rules, ",") != "2,3,4" || closed {
		t.Errorf("take = %v closed=%v, want 2,3,4 open", rules, closed)
	}
	if q.droppedCount() != 2 {
		t.Errorf("dropped = %d, want 2", q.droppedCount())
	}
	q.close()
	a := event.Alert{Rule: "late"}
	if q.push(&a) || q.droppedCount() != 3 {
		t.Errorf("push after close accepted or not counted (dropped %d)", q.droppedCount())
	}
}

// runStage starts s and returns a stop function that ends Run and waits.
func runStage(t *testing.T, s *Stage) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newTestStage(t *testing.T, specs []string, opts StageOptions) *Stage {
	t.Helper()
	var sp []Spec
	for _, s := range specs {
		p, err := ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		sp = append(sp, p)
	}
	st, err := NewStage(sp, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func statsOf(s *Stage, i int) OutputStats { return s.Stats()[i] }

func TestStdoutAndJSONOutputs(t *testing.T) {
	var buf bytes.Buffer
	s := newTestStage(t, []string{"stdout", "json?min_priority=error"}, StageOptions{Stdout: &buf, Hostname: "h1"})
	stop := runStage(t, s)
	a := testAlert()
	a.Hostname = ""
	s.Send(a)
	a.Priority = event.PriorityNotice // below json's minimum
	s.Send(a)
	stop()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 2 readable + 1 json:\n%s", len(lines), buf.String())
	}
	var js int
	for _, l := range lines {
		if strings.HasPrefix(l, "{") {
			js++
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			if m["hostname"] != "h1" || m["priority"] != "Critical" {
				t.Errorf("json line %s", l)
			}
		}
	}
	if js != 1 {
		t.Errorf("json lines = %d, want 1", js)
	}
	if st := statsOf(s, 0); st.Sent != 2 {
		t.Errorf("stdout stats %+v", st)
	}
}

// hookServer records bodies and answers with the statuses in plan, then 200.
type hookServer struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	plan   []int
	calls  atomic.Int64
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := h.calls.Add(1)
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	status := http.StatusOK
	if int(n) <= len(h.plan) {
		status = h.plan[n-1]
	}
	if status == http.StatusOK {
		h.bodies = append(h.bodies, b)
		h.heads = append(h.heads, r.Header.Clone())
	}
	h.mu.Unlock()
	w.WriteHeader(status)
}

func (h *hookServer) received() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

func TestWebhookStatuses(t *testing.T) {
	tests := []struct {
		name                         string
		plan                         []int
		sent, failed, retried, calls uint64
	}{
		{"ok", nil, 1, 0, 0, 1},
		{"500 then 200 is retried", []int{500, 200}, 1, 0, 1, 2},
		{"429 is retried", []int{429, 503, 200}, 1, 0, 2, 3},
		{"400 is not retried", []int{400}, 0, 1, 0, 1},
		{"404 is not retried", []int{404}, 0, 1, 0, 1},
		{"retries run out", []int{500, 500, 500, 500, 500}, 0, 1, 3, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hookServer{plan: tt.plan}
			srv := httptest.NewServer(h)
			defer srv.Close()
			s := newTestStage(t, []string{"webhook+" + srv.URL + "/hook?retry_backoff=1ms"}, StageOptions{})
			stop := runStage(t, s)
			s.Send(testAlert())
			waitFor(t, "delivery outcome", func() bool { st := statsOf(s, 0); return st.Sent+st.Failed == 1 })
			stop()
			st := statsOf(s, 0)
			if st.Sent != tt.sent || st.Failed != tt.failed || st.Retried != tt.retried || uint64(h.calls.Load()) != tt.calls {
				t.Errorf("stats %+v calls %d; want sent %d failed %d retried %d calls %d", st, h.calls.Load(), tt.sent, tt.failed, tt.retried, tt.calls)
			}
		})
	}
}

func TestWebhookConnectionErrorsRetried(t *testing.T) {
	// A server that accepts and closes: the transport sees EOF.
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			hj, _ := w.(http.Hijacker)
			c, _, err := hj.Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Start()
	defer srv.Close()
	s := newTestStage(t, []string{"webhook+" + srv.URL + "/?retry_backoff=1ms"}, StageOptions{})
	stop := runStage(t, s)
	s.Send(testAlert())
	waitFor(t, "delivery", func() bool { return statsOf(s, 0).Sent == 1 })
	stop()
	if st := statsOf(s, 0); st.Retried != 2 || st.Failed != 0 {
		t.Errorf("stats %+v, want 2 retries", st)
	}
}

func TestWebhookHangDoesNotBlock(t *testing.T) {
	release := make(chan struct{})
	var hung atomic.Int64
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	good := &hookServer{}
	goodSrv := httptest.NewServer(good)
	defer goodSrv.Close()
	s := newTestStage(t, []string{
		"webhook+" + hang.URL + "/?timeout=100ms&retries=1&retry_backoff=1ms&queue_size=8",
		"webhook+" + goodSrv.URL + "/",
	}, StageOptions{DrainTimeout: 300 * time.Millisecond})
	stop := runStage(t, s)
	const n = 50
	for i := range n {
		a := testAlert()
		a.Rule = fmt.Sprint(i)
		s.Send(a) // must return while the first receiver hangs
	}
	waitFor(t, "the healthy output", func() bool { return statsOf(s, 1).Sent == n })
	waitFor(t, "a timeout", func() bool { return statsOf(s, 0).Failed > 0 })
	stop()
	st := statsOf(s, 0)
	if st.Sent != 0 || st.Retried == 0 {
		t.Errorf("hung output %+v: want retries and no sends", st)
	}
	// Every alert is accounted for: failed, dropped by the small queue, or
	// dropped at the drain deadline.
	if st.Failed+st.Dropped != n {
		t.Errorf("hung output failed %d + dropped %d != %d", st.Failed, st.Dropped, n)
	}
}

func TestWebhookBatching(t *testing.T) {
	tests := []struct {
		name     string
		query    string
		requests int
	}{
		{"off", "", 10},
		{"size 5", "?batch_size=5&batch_wait=5s", 2},
		{"partial batch flushed by wait", "?batch_size=100&batch_wait=50ms", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hookServer{}
			srv := httptest.NewServer(h)
			defer srv.Close()
			s := newTestStage(t, []string{"webhook+" + srv.URL + "/" + tt.query}, StageOptions{})
			// Queue before Run so batches fill deterministically.
			for i := range 10 {
				a := testAlert()
				a.Rule = fmt.Sprint(i)
				s.Send(a)
			}
			stop := runStage(t, s)
			waitFor(t, "delivery", func() bool { return statsOf(s, 0).Sent == 10 })
			stop()
			bodies := h.received()
			if len(bodies) != tt.requests {
				t.Fatalf("requests = %d, want %d", len(bodies), tt.requests)
			}
			var rules []string
			for _, b := range bodies {
				var as []map[string]any
				if tt.query == "" {
					var a map[string]any
					if err := json.Unmarshal(b, &a); err != nil {
						t.Fatalf("single body %s: %v", b, err)
					}
					as = append(as, a)
				} else if err := json.Unmarshal(b, &as); err != nil {
					t.Fatalf("batch body %s: %v", b, err)
				}
				for _, a := range as {
					rules = append(rules, a["rule"].(string))
				}
			}
			if strings.Join(rules, ",") != "0,1,2,3,4,5,6,7,8,9" {
				t.Errorf("order %v", rules)
			}
		})
	}
}

func TestWebhookHeadersFromEnv(t *testing.T) {
	t.Setenv("RULED_TEST_TOKEN", "s3cret")
	h := &hookServer{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	sp, err := ParseSpec("webhook+" + srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	sp.Headers = map[string]string{"Authorization": "Bearer ${RULED_TEST_TOKEN}", "X-Team": "sec"}
	var logs bytes.Buffer
	s, err := NewStage([]Spec{sp}, StageOptions{Logger: slogTo(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	stop := runStage(t, s)
	s.Send(testAlert())
	waitFor(t, "delivery", func() bool { return statsOf(s, 0).Sent == 1 })
	stop()
	hd := h.heads[0]
	if hd.Get("Authorization") != "Bearer s3cret" || hd.Get("X-Team") != "sec" || hd.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", hd)
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("token logged: %s", logs.String())
	}
}

func TestWebhookTLSCAFile(t *testing.T) {
	h := &hookServer{}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		query        string
		sent, failed uint64
	}{
		{"unknown CA fails", "?retries=0", 0, 1},
		{"ca_file verifies", "?ca_file=" + ca, 1, 0},
		{"insecure opt-in", "?insecure_skip_verify=true", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStage(t, []string{"webhook+" + srv.URL + "/" + tt.query}, StageOptions{})
			stop := runStage(t, s)
			s.Send(testAlert())
			waitFor(t, "outcome", func() bool { st := statsOf(s, 0); return st.Sent+st.Failed == 1 })
			stop()
			if st := statsOf(s, 0); st.Sent != tt.sent || st.Failed != tt.failed {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// falcoPayload has falcosidekick's FalcoPayload field names and types
// (types/types.go; PriorityType decodes from Falco's priority word).
type falcoPayload struct {
	UUID         string         `json:"uuid,omitempty"`
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Time         time.Time      `json:"time"`
	OutputFields map[string]any `json:"output_fields"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags,omitempty"`
	Hostname     string         `json:"hostname,omitempty"`
}

func TestFalcoOutputShape(t *testing.T) {
	h := &hookServer{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	s := newTestStage(t, []string{"falco+" + srv.URL}, StageOptions{})
	stop := runStage(t, s)
	a := testAlert()
	a.Suppressed = 4 // not part of Falco's shape
	s.Send(a)
	waitFor(t, "delivery", func() bool { return statsOf(s, 0).Sent == 1 })
	stop()
	dec := json.NewDecoder(bytes.NewReader(h.received()[0]))
	dec.DisallowUnknownFields()
	var p falcoPayload
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("strict decode: %v\n%s", err, h.received()[0])
	}
	// falcosidekick's FalcoPayload.Check: a known priority word (its
	// PriorityType parses them case-insensitively), a rule, a time and
	// output fields; otherwise it answers 400.
	known := map[string]bool{"emergency": true, "alert": true, "critical": true, "error": true, "warning": true,
		"notice": true, "informational": true, "debug": true}
	if !known[strings.ToLower(p.Priority)] || p.Rule == "" || p.Time.IsZero() || len(p.OutputFields) == 0 {
		t.Errorf("falcosidekick would reject %+v", p)
	}
	if p.Priority != "Critical" || p.Rule != a.Rule || !p.Time.Equal(a.Time) || p.Source != "ruled" ||
		p.Hostname != "node1" || len(p.OutputFields) != 6 || len(p.Tags) != 2 {
		t.Errorf("payload %+v", p)
	}
}

func TestDrainDeliversQueued(t *testing.T) {
	h := &hookServer{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	s := newTestStage(t, []string{"webhook+" + srv.URL + "/"}, StageOptions{})
	for range 20 {
		s.Send(testAlert())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run starts already cancelled: it only drains
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if st := statsOf(s, 0); st.Sent != 20 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
	s.Send(testAlert())
	if st := statsOf(s, 0); st.Dropped != 1 {
		t.Errorf("send after Run: %+v, want 1 dropped", st)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestFileOutputReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.json")
	s := newTestStage(t, []string{"file:" + path}, StageOptions{})
	stop := runStage(t, s)
	s.Send(testAlert())
	waitFor(t, "first write", func() bool { return statsOf(s, 0).Sent == 1 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	s.Send(testAlert())
	s.Send(testAlert())
	waitFor(t, "writes after reopen", func() bool { return statsOf(s, 0).Sent == 3 })
	stop()
	for name, want := range map[string]int{path + ".1": 1, path: 2} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
		if got := countJSONLines(t, name); got != want {
			t.Errorf("%s has %d lines, want %d", name, got, want)
		}
	}
}

func countJSONLines(t *testing.T, name string) int {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s line %d: %v", name, n+1, err)
		}
		n++
	}
	return n
}

func TestNewStageErrorsNameSpec(t *testing.T) {
	_, err := NewStage([]Spec{{Raw: "file:/nonexistent-dir/x/alerts.json"}}, StageOptions{})
	if err == nil || !strings.Contains(err.Error(), "output file:/nonexistent-dir/x/alerts.json") {
		t.Fatalf("err = %v", err)
	}
	_, err = NewStage([]Spec{{Raw: "webhook+https://h.example/?ca_file=/nonexistent.pem"}}, StageOptions{})
	if err == nil || !strings.Contains(err.Error(), "output webhook+https://h.example/: read ca_file") {
		t.Fatalf("err = %v", err)
	}
}

func TestOverflowCounted(t *testing.T) {
	s := newTestStage(t, []string{"json?queue_size=5", "stdout?min_priority=emergency"}, StageOptions{Stdout: io.Discard})
	for i := range 20 {
		a := testAlert()
		a.Rule = fmt.Sprint(i)
		s.Send(a)
	}
	st := s.Stats()
	if st[0].Dropped != 15 || st[0].Queued != 5 {
		t.Errorf("json %+v, want 15 dropped 5 queued", st[0])
	}
	if st[1].Queued != 0 || st[1].Dropped != 0 {
		t.Errorf("filtered output %+v, want nothing queued", st[1])
	}
	// The newest five survive.
	got, _ := s.runners[0].q.take(nil, 10)
	if got[0].Rule != "15" || got[4].Rule != "19" {
		t.Errorf("kept %s..%s, want 15..19", got[0].Rule, got[4].Rule)
	}
}

func TestSyslogTCPReconnects(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	msgs := make(chan string, 16)
	go func() {
		for first := true; ; first = false {
			c, err := l.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			for {
				// Octet counting: "LEN SP MSG".
				lenStr, err := br.ReadString(' ')
				if err != nil {
					break
				}
				n, err := strconv.Atoi(strings.TrimSpace(lenStr))
				if err != nil {
					t.Errorf("bad frame length %q", lenStr)
					break
				}
				b := make([]byte, n)
				if _, err := io.ReadFull(br, b); err != nil {
					break
				}
				msgs <- string(b)
				if first {
					break // drop the first connection after one message
				}
			}
			c.Close()
		}
	}()
	s := newTestStage(t, []string{"syslog+tcp://" + l.Addr().String() + "?retry_backoff=1ms"}, StageOptions{})
	stop := runStage(t, s)
	s.Send(testAlert())
	<-msgs
	// The first writes after the peer closed may still succeed (the kernel
	// buffers them before the RST arrives); keep sending until one arrives
	// over the new connection.
	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		s.Send(testAlert())
		select {
		case m := <-msgs:
			if !strings.HasPrefix(m, "<130>1 ") {
				t.Errorf("message %q", m)
			}
			got = true
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no message after reconnect; stats %+v", statsOf(s, 0))
		}
	}
	stop()
	if st := statsOf(s, 0); st.Retried == 0 {
		t.Errorf("stats %+v: want a retry after the connection dropped", st)
	}
}

// blockedWriter never returns from Write, like a stdout pipe nobody reads.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

func TestShutdownBoundedWithStuckWriter(t *testing.T) {
	w := blockedWriter{release: make(chan struct{})}
	defer close(w.release)
	h := &hookServer{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	s := newTestStage(t, []string{"stdout", "webhook+" + srv.URL + "/"}, StageOptions{Stdout: w, DrainTimeout: 100 * time.Millisecond})
	for range 10 {
		s.Send(testAlert())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	waitFor(t, "webhook delivery", func() bool { return statsOf(s, 1).Sent == 10 })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return with a stuck stdout")
	}
	// The stuck worker took all ten into its write: abandoned, they count
	// as dropped.
	if st := statsOf(s, 0); st.Sent != 0 || st.Dropped != 10 || st.Queued != 0 {
		t.Errorf("stuck stdout %+v, want 10 dropped", st)
	}
}

func TestWebhookHonoursRetryAfter(t *testing.T) {
	var first time.Time
	var second time.Time
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		second = time.Now()
	}))
	defer srv.Close()
	s := newTestStage(t, []string{"webhook+" + srv.URL + "/?retry_backoff=1ms"}, StageOptions{})
	stop := runStage(t, s)
	s.Send(testAlert())
	waitFor(t, "delivery", func() bool { return statsOf(s, 0).Sent == 1 })
	stop()
	if gap := second.Sub(first); gap < 900*time.Millisecond {
		t.Errorf("retried after %v, want about the 1 s Retry-After asked", gap)
	}
}

func TestWholeLines(t *testing.T) {
	tests := []struct {
		in      string
		lines   int
		keepLen int
	}{
		{"", 0, 0},
		{`{"a":1`, 0, 0},
		{"{\"a\":1}\n", 1, 8},
		{"{\"a\":1}\n{\"b\"", 1, 8},
		{"{}\n{}\n{", 2, 6},
	}
	for _, tt := range tests {
		lines, n := wholeLines([]byte(tt.in))
		if lines != tt.lines || n != tt.keepLen {
			t.Errorf("wholeLines(%q) = %d, %d; want %d, %d", tt.in, lines, n, tt.lines, tt.keepLen)
		}
	}
}

// countingWriter counts the writes of a stdout output.
type countingWriter struct {
	mu     sync.Mutex
	writes int
	lines  int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	w.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

func (w *countingWriter) counts() (writes, lines int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes, w.lines
}

// TestLocalOutputPausesAfterWrite: a stdout worker that wrote pauses
// before taking again, so the alerts sent meanwhile go out in one write;
// a full take does not pause.
func TestLocalOutputPausesAfterWrite(t *testing.T) {
	w := &countingWriter{}
	s := newTestStage(t, []string{"stdout"}, StageOptions{Stdout: w})
	r := s.runners[0]
	if r.pause <= 0 {
		t.Fatal("stdout output has no pause")
	}
	paused, release := make(chan struct{}), make(chan struct{})
	r.wait = func(ctx context.Context) bool {
		paused <- struct{}{}
		<-release
		return true
	}
	runStage(t, s)
	awaitPause := func() {
		t.Helper()
		select {
		case <-paused:
		case <-time.After(10 * time.Second):
			t.Fatal("the worker did not pause after a write")
		}
	}
	s.Send(testAlert())
	awaitPause() // after writing the first alert
	for range 9 {
		s.Send(testAlert())
	}
	if writes, _ := w.counts(); writes != 1 {
		t.Fatalf("%d writes while the worker pauses, want 1", writes)
	}
	release <- struct{}{}
	awaitPause()
	if writes, lines := w.counts(); writes != 2 || lines != 10 {
		t.Fatalf("%d writes of %d alerts, want the nine sent during the pause in one", writes, lines)
	}
	// More than a take while paused: the full take is written without a
	// pause, the rest after it, then the pause.
	for range r.maxTake + 5 {
		s.Send(testAlert())
	}
	release <- struct{}{}
	awaitPause()
	if writes, lines := w.counts(); writes != 4 || lines != 10+r.maxTake+5 {
		t.Fatalf("%d writes of %d alerts, want a full take and the rest: 4 of %d", writes, lines, 10+r.maxTake+5)
	}
	close(release)
}
