package main

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/engine"
	"github.com/ruled/ruled/sources/container"
	"github.com/ruled/ruled/sources/event"
)

func TestAlertNamer(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(rules, []byte(`- rule: Shell in container
  desc: test
  condition: evt.type == "execve" and container.id != "host"
  output: shell in %container.name (image=%container.image)
  priority: WARNING
`), 0o644); err != nil {
		t.Fatal(err)
	}
	eng, err := loadRules(rulePaths{rules}, nil)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]container.Info{"c1": {ID: "c1", Name: "web", Image: "nginx:1"}}
	var mu sync.Mutex
	var sent []event.Alert
	n := &alertNamer{
		queue: make(chan pendingAlert, 2),
		lookup: func(ctx context.Context, id string) (container.Info, error) {
			if i, ok := known[id]; ok {
				return i, nil
			}
			<-ctx.Done() // a hung daemon: the alert's deadline ends the wait
			return container.Info{}, ctx.Err()
		},
		enrich: func(ev *event.Event) {
			if i, ok := known[ev.Container.ID]; ok {
				ev.Container.Name, ev.Container.Image = i.Name, i.Image
			}
		},
		engine: func() *engine.Engine { return eng },
		send: func(a event.Alert) {
			mu.Lock()
			sent = append(sent, a)
			mu.Unlock()
		},
	}
	alertFor := func(id, name string) event.Alert {
		ev := &event.Event{}
		ev.Evt.Type, ev.Container.ID, ev.Container.Name = event.TypeExecve, id, name
		as := eng.Eval(ev)
		if len(as) != 1 {
			t.Fatalf("want one alert, got %d", len(as))
		}
		return as[0]
	}

	if n.offer(alertFor("c0", "named already")) {
		t.Error("an alert with its container's name was held")
	}
	hostEv := &event.Event{}
	hostEv.Container.ID = event.HostID
	if n.offer(event.Alert{Event: hostEv}) {
		t.Error("a host alert was held")
	}
	if !n.offer(alertFor("c1", "")) || !n.offer(alertFor("c2", "")) {
		t.Fatal("alerts without a name were not held")
	}
	if n.offer(alertFor("c3", "")) || n.overflow.Load() != 1 {
		t.Error("a full queue must pass the alert on and count it")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := len(sent)
		mu.Unlock()
		if got == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if len(sent) != 2 {
		t.Fatalf("sent %d alerts, want 2", len(sent))
	}
	if sent[0].Output != "shell in web (image=nginx:1)" || sent[0].OutputFields["container.name"] != "web" {
		t.Errorf("late-named alert: %q %v", sent[0].Output, sent[0].OutputFields)
	}
	if sent[1].Output != "shell in <NA> (image=<NA>)" {
		t.Errorf("unnamed alert after the wait: %q", sent[1].Output)
	}
	if n.named.Load() != 1 || n.unnamed.Load() != 1 {
		t.Errorf("named %d unnamed %d", n.named.Load(), n.unnamed.Load())
	}
}
