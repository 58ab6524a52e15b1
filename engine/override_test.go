package engine

import (
	"slices"
	"testing"

	"github.com/ruled/ruled/sources/event"
)

const shipped = `- list: shells
  items: [sh]
- macro: spawned_process
  condition: evt.type == "execve"
- rule: Shell
  desc: a shell
  condition: spawned_process and proc.name in shells
  output: shell %proc.name
  priority: WARNING
  tags: [shipped]
  exceptions:
    - name: parents
      fields: [proc.pname]
      values: [[cron]]
`

func TestOverrides(t *testing.T) {
	sh := execEvent("sh", "bash", "c")
	bash := execEvent("bash", "bash", "c")
	fromCron := execEvent("sh", "cron", "c")
	fromMake := execEvent("sh", "make", "c")
	cases := []struct {
		name  string
		local string
		check func(t *testing.T, e *Engine)
	}{
		{"list items append", `- list: shells
  items: [bash]
  override: {items: append}
`, func(t *testing.T, e *Engine) { wantMatch(t, e, bash, "Shell"); wantMatch(t, e, sh, "Shell") }},
		{"list items replace", `- list: shells
  items: [bash]
  override: {items: replace}
`, func(t *testing.T, e *Engine) { wantMatch(t, e, bash, "Shell"); wantMatch(t, e, sh) }},
		{"old append form on list", `- list: shells
  items: [bash]
  append: true
`, func(t *testing.T, e *Engine) { wantMatch(t, e, bash, "Shell"); wantMatch(t, e, sh, "Shell") }},
		{"macro condition append", `- macro: spawned_process
  condition: and evt.success
  override: {condition: append}
`, func(t *testing.T, e *Engine) {
			failed := *sh
			failed.Evt.Success = false
			wantMatch(t, e, &failed)
			wantMatch(t, e, sh, "Shell")
		}},
		{"macro condition replace", `- macro: spawned_process
  condition: evt.type == "fork"
  override: {condition: replace}
`, func(t *testing.T, e *Engine) {
			wantMatch(t, e, sh)
			f := *sh
			f.Evt.Type = "fork"
			wantMatch(t, e, &f, "Shell")
			if r := e.Rules()[0]; !slices.Equal(r.Types, []string{"fork"}) {
				t.Errorf("index after macro replace = %v", r.Types)
			}
		}},
		{"rule condition append", `- rule: Shell
  condition: and proc.pname != "bash"
  override: {condition: append}
`, func(t *testing.T, e *Engine) { wantMatch(t, e, sh); wantMatch(t, e, fromMake, "Shell") }},
		{"rule condition replace", `- rule: Shell
  condition: evt.type == "execve" and proc.name == "bash"
  override: {condition: replace}
`, func(t *testing.T, e *Engine) { wantMatch(t, e, sh); wantMatch(t, e, bash, "Shell") }},
		{"exceptions append new", `- rule: Shell
  exceptions:
    - name: make
      fields: [proc.pname]
      values: [[make]]
  override: {exceptions: append}
`, func(t *testing.T, e *Engine) {
			wantMatch(t, e, fromMake)
			wantMatch(t, e, fromCron)
			wantMatch(t, e, sh, "Shell")
		}},
		{"exceptions append values to existing name", `- rule: Shell
  exceptions:
    - name: parents
      values: [[make]]
  override: {exceptions: append}
`, func(t *testing.T, e *Engine) {
			wantMatch(t, e, fromMake)
			wantMatch(t, e, fromCron)
			wantMatch(t, e, sh, "Shell")
		}},
		{"exceptions replace", `- rule: Shell
  exceptions:
    - name: make
      fields: [proc.pname]
      values: [[make]]
  override: {exceptions: replace}
`, func(t *testing.T, e *Engine) { wantMatch(t, e, fromMake); wantMatch(t, e, fromCron, "Shell") }},
		{"output priority desc tags enabled", `- rule: Shell
  output: tuned %proc.pname
  priority: debug
  desc: more
  tags: [local]
  override: {output: replace, priority: replace, desc: append, tags: append}
`, func(t *testing.T, e *Engine) {
			r := e.Rules()[0]
			out, _ := r.Render(sh)
			if out != "tuned bash" || r.Priority != event.PriorityDebug || r.Desc != "a shell more" || !slices.Equal(r.Tags, []string{"shipped", "local"}) {
				t.Errorf("rule = %q %v %q %v", out, r.Priority, r.Desc, r.Tags)
			}
		}},
		{"tags replace", `- rule: Shell
  tags: [x]
  override: {tags: replace}
`, func(t *testing.T, e *Engine) {
			if tags := e.Rules()[0].Tags; !slices.Equal(tags, []string{"x"}) {
				t.Errorf("tags = %v", tags)
			}
		}},
		{"enabled override", `- rule: Shell
  enabled: false
  override: {enabled: replace}
`, func(t *testing.T, e *Engine) {
			if len(e.Rules()) != 0 {
				t.Error("rule still enabled")
			}
		}},
		{"enabled short form", `- rule: Shell
  enabled: false
`, func(t *testing.T, e *Engine) {
			if len(e.Rules()) != 0 {
				t.Error("rule still enabled")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := mustNew(t, Options{}, yamlFile("shipped.yaml", shipped), yamlFile("local.yaml", c.local))
			c.check(t, e)
		})
	}
}

func TestOverridesApplyInLoadOrder(t *testing.T) {
	a := yamlFile("1.yaml", `- list: shells
  items: [bash]
  override: {items: replace}
`)
	b := yamlFile("2.yaml", `- list: shells
  items: [zsh]
  override: {items: append}
`)
	e := mustNew(t, Options{}, yamlFile("0.yaml", shipped), a, b)
	wantMatch(t, e, execEvent("sh", "", ""))
	wantMatch(t, e, execEvent("bash", "", ""), "Shell")
	wantMatch(t, e, execEvent("zsh", "", ""), "Shell")
	// Reversed: append then replace leaves only bash.
	e = mustNew(t, Options{}, yamlFile("0.yaml", shipped), b, a)
	wantMatch(t, e, execEvent("zsh", "", ""))
	wantMatch(t, e, execEvent("bash", "", ""), "Shell")
}

func wantMatch(t *testing.T, e *Engine, ev *event.Event, want ...string) {
	t.Helper()
	got := names(e.Match(ev))
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Match(%s pname=%s) = %v, want %v", ev.Proc.Name, ev.Proc.PName, got, want)
	}
}
