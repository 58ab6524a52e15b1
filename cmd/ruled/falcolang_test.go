package main

import (
	"strings"
	"testing"
)

const fl = "testdata/falcolang/"

// The agent's replay path runs a Falco-language rules file: Falco's field
// meanings in conditions and outputs, the rule needing capabilities is
// inactive with one log line, the k8s_audit rule skipped.
func TestReplayFalcoLanguage(t *testing.T) {
	code, out, errOut := run(t, "-replay", fl+"events.jsonl", "-rules", fl+"rules.yaml", "-output", "stdout")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"Notice Terminal shell in a container: Terminal shell (user=root container=3f1c9a2b7d4e cmd=bash evt=execve)",
		"Warning Shadow read: shadow read by python3 (parent=bash gparent=sshd file=/etc/shadow)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		`msg="rule inactive" rule="Needs a server DNS name" file=` + fl + `rules.yaml line=16 reason="needs field fd.sip.name, which ruled does not collect"`,
		`msg="falco-language rules" active=2 rules=3 inactive=1 disabled=0 other_source=1`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("log lacks %q:\n%s", want, errOut)
		}
	}
}

func TestValidateFalcoLanguage(t *testing.T) {
	code, out, errOut := run(t, "validate", "-rules", fl+"rules.yaml")
	want := "2 rules, 1 macros, 1 lists loaded from " + fl + "rules.yaml\n" +
		"inactive: " + fl + `rules.yaml:16: rule "Needs a server DNS name": needs field fd.sip.name, which ruled does not collect` + "\n" +
		"Falco-language rules: 2 active of 3 (67%), 1 inactive (each listed with why), 0 disabled in their files, 1 for other sources skipped\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d\n got %q\nwant %q\n%s", code, out, want, errOut)
	}
	code, _, errOut = run(t, "validate", "-strict", "-rules", fl+"rules.yaml")
	if code != 1 || !strings.Contains(errOut, "1 inactive rules (-strict)") {
		t.Fatalf("-strict: exit %d, stderr %q", code, errOut)
	}
	// The plugin's Falco-side rules load in ruled too; the one rule that
	// reads ruled's own matches inside Falco is inactive and says why.
	code, out, errOut = run(t, "validate", "-rules", "../../plugin/falco/ruled_rules.yaml")
	if code != 0 || !strings.Contains(out, `rule "Ruled rule matched": needs field ruled.rule (the plugin's report of ruled's own matches inside Falco`) {
		t.Fatalf("ruled_rules.yaml: exit %d\n%s\n%s", code, out, errOut)
	}
}

// ruled events -filter takes a condition in Falco's language too, with the
// Falco-language file's macros and lists.
func TestEventsFalcoFilter(t *testing.T) {
	code, out, errOut := run(t, "events", "-rules", fl+"rules.yaml", "-filter", "spawned_process and proc.name in (shells)", "-replay", fl+"events.jsonl")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"name":"bash"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}
