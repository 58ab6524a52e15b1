package respond

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ruled/ruled/sources/enrichers/container"
	"github.com/ruled/ruled/sources/event"
)

const cid = "1c033df0629c9a4fb6c814488a63e7f37e83171b0d5ec8d89cc764714c526d77"

// fakeRuntime records calls; failing names actions that return an error.
type fakeRuntime struct {
	mu      sync.Mutex
	calls   []string
	failing map[string]bool
	block   chan struct{} // when set, Detail waits on it
}

func (f *fakeRuntime) rec(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	verb, _, _ := strings.Cut(s, " ")
	if f.failing[verb] {
		return errors.New(verb + " refused")
	}
	return nil
}

func (f *fakeRuntime) Detail(_ context.Context, id string) (container.Detail, error) {
	if f.block != nil {
		<-f.block
	}
	return container.Detail{Info: container.Info{ID: id, Name: "web"}, Networks: []container.Network{{Name: "bridge"}, {Name: "backend"}}}, nil
}

func (f *fakeRuntime) Commit(_ context.Context, id, repo, tag, _ string, labels map[string]string) (string, error) {
	return "sha256:abc", f.rec("commit " + repo + ":" + tag + " rule=" + labels[LabelRule])
}
func (f *fakeRuntime) Disconnect(_ context.Context, id, n string) error {
	return f.rec("disconnect " + n)
}
func (f *fakeRuntime) Pause(_ context.Context, id string) error { return f.rec("pause " + id[:12]) }
func (f *fakeRuntime) Stop(_ context.Context, id string, _ time.Duration) error {
	return f.rec("stop " + id[:12])
}
func (f *fakeRuntime) Kill(_ context.Context, id string) error { return f.rec("kill " + id[:12]) }

func (f *fakeRuntime) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

type sink struct {
	mu     sync.Mutex
	alerts []event.Alert
}

func (s *sink) send(a event.Alert) { s.mu.Lock(); s.alerts = append(s.alerts, a); s.mu.Unlock() }
func (s *sink) all() []event.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Alert(nil), s.alerts...)
}

func alert(rule, id string, p event.Priority, tags ...string) event.Alert {
	return event.Alert{Rule: rule, Priority: p, Tags: tags, OutputFields: map[string]any{
		"container.id": id, "container.name": "web", "proc.pid": 42, "proc.name": "sh", "evt.type": "execve", "proc.cmdline": "sh",
	}}
}

// drain runs the responder until it has reported actions actions in all.
func drain(t *testing.T, r *Responder, actions uint64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Actions < actions && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if got := r.Stats().Actions; got != actions {
		t.Fatalf("%d actions reported, want %d", got, actions)
	}
}

func newResponder(t *testing.T, rt Runtime, s *sink, now func() time.Time, entries ...Entry) *Responder {
	t.Helper()
	r, err := New(Config{Entries: entries, Runtime: rt, Send: s.send, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestActionsInOrderAndReported(t *testing.T) {
	rt := &fakeRuntime{failing: map[string]bool{"disconnect": true}}
	s := &sink{}
	at := time.Date(2026, 12, 4, 18, 30, 0, 0, time.UTC)
	r := newResponder(t, rt, s, func() time.Time { return at },
		Entry{Name: "contain reverse shells", Rules: []string{"Reverse shell"}, Actions: []string{"commit", "disconnect", "pause"}})
	r.Offer(alert("Reverse shell", cid, event.PriorityCritical))
	r.Offer(alert("Other rule", cid, event.PriorityCritical))
	drain(t, r, 3)
	want := []string{
		"commit ruled-evidence:web-reverse-shell-20261204t183000.000z rule=Reverse shell",
		"disconnect bridge", "disconnect backend", // a failure does not stop the next
		"pause " + cid[:12],
	}
	if got := rt.got(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("calls\n%q\nwant\n%q", got, want)
	}
	as := s.all()
	if len(as) != 3 {
		t.Fatalf("%d response alerts, want 3: %+v", len(as), as)
	}
	for i, res := range []string{ResultOK, ResultFailed, ResultOK} {
		a := as[i]
		if a.Rule != "response: contain reverse shells" || a.OutputFields["response.result"] != res ||
			a.OutputFields["container.id"] != cid || a.OutputFields["proc.pid"] != 42 || a.Priority != event.PriorityCritical {
			t.Errorf("alert %d: %s %v", i, a.Rule, a.OutputFields)
		}
	}
	if !strings.Contains(as[1].Output, "disconnect refused") {
		t.Errorf("failure not in output: %s", as[1].Output)
	}
	if st := r.Stats(); st.Matched != 1 || st.Actions != 3 || st.Failed != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestHostCooldownDryRun(t *testing.T) {
	rt := &fakeRuntime{}
	s := &sink{}
	now := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	r := newResponder(t, rt, s, clock,
		Entry{Name: "pause", MinPriority: "warning", Actions: []string{"pause"}, Cooldown: time.Minute},
		Entry{Name: "dry", Tags: []string{"shell"}, Actions: []string{"kill"}, DryRun: true})
	r.Offer(alert("Reverse shell", event.HostID, event.PriorityCritical, "shell")) // host: never
	r.Offer(alert("Reverse shell", "", event.PriorityCritical))                    // unknown: never
	r.Offer(alert("Noise", cid, event.PriorityNotice))                             // below min_priority, no tag
	r.Offer(alert("Reverse shell", cid, event.PriorityCritical, "shell"))          // pause + dry kill
	r.Offer(alert("Reverse shell", cid, event.PriorityCritical, "shell"))          // cooled down, both
	drain(t, r, 2)
	now = now.Add(2 * time.Minute)
	r.Offer(alert("Reverse shell", cid, event.PriorityCritical)) // after the cool-down
	drain(t, r, 3)
	if got := rt.got(); strings.Join(got, "|") != "pause "+cid[:12]+"|pause "+cid[:12] {
		t.Errorf("calls %q (the dry run must not act)", got)
	}
	var dry int
	for _, a := range s.all() {
		if a.OutputFields["response.result"] == ResultDryRun {
			dry++
			if a.OutputFields["response.action"] != "kill" {
				t.Errorf("dry run alert %v", a.OutputFields)
			}
		}
	}
	if dry != 1 {
		t.Errorf("%d dry-run alerts, want 1", dry)
	}
	st := r.Stats()
	if st.Host != 3 || st.CooledDown != 2 {
		t.Errorf("stats %+v: want 3 host (2 entries x host alert + 1 unknown), 2 cooled down", st)
	}
}

// TestOfferNeverBlocks fills the queue while the worker is stuck in the
// runtime: Offer drops and counts instead of waiting.
func TestOfferNeverBlocks(t *testing.T) {
	rt := &fakeRuntime{block: make(chan struct{})}
	s := &sink{}
	r, err := New(Config{Entries: []Entry{{Name: "p", Rules: []string{"R"}, Actions: []string{"pause"}}}, Runtime: rt, Send: s.send, QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	start := time.Now()
	for i := range 10 {
		r.Offer(alert("R", strings.Repeat(string(rune('a'+i)), 64), event.PriorityCritical))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Offer took %v", d)
	}
	close(rt.block)
	cancel()
	<-done
	if st := r.Stats(); st.Dropped < 7 {
		t.Errorf("dropped %d, want at least 7 of 10 with a queue of 2 and a stuck worker", st.Dropped)
	}
}

func TestConfig(t *testing.T) {
	src := `
- name: contain reverse shells
  rules: ["Reverse shell"]
  actions: [commit, disconnect, pause]
- name: bad
  rules: [x]
  actions: [explode]
`
	var es []Entry
	if err := yaml.Unmarshal([]byte(src), &es); err != nil {
		t.Fatal(err)
	}
	err := Validate(es)
	if err == nil || !strings.Contains(err.Error(), `line 5: response "bad": unknown action "explode"`) {
		t.Errorf("err %v", err)
	}
	for _, bad := range []string{
		"- name: x\n  actions: [pause]\n",                       // no match
		"- rules: [x]\n  actions: [pause]\n",                    // no name
		"- name: x\n  rules: [x]\n",                             // no actions
		"- name: x\n  rules: [x]\n  actions: [pause]\n  y: 1\n", // unknown key
		"- name: x\n  min_priority: loud\n  actions: [pause]\n",
		"- name: x\n  rules: [x]\n  actions: [pause]\n- name: x\n  rules: [y]\n  actions: [kill]\n",
	} {
		var es []Entry
		err := yaml.Unmarshal([]byte(bad), &es)
		if err == nil {
			err = Validate(es)
		}
		if err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestEvidenceTag(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct{ name, id, rule, want string }{
		{"web", cid, "Reverse shell", "web-reverse-shell-20260102t030405.000z"},
		{"", cid, "Drop and execute new binary in container", "1c033df0629c-drop-and-execute-new-binary-in-container-20260102t030405.000z"},
		{"-x", cid, "!!", "x--20260102t030405.000z"},
	} {
		if got := evidenceTag(tt.name, tt.id, tt.rule, at); got != tt.want {
			t.Errorf("evidenceTag(%q, %q) = %q, want %q", tt.name, tt.rule, got, tt.want)
		}
	}
}
