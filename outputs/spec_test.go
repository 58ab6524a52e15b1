package outputs

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func intp(n int) *int { return &n }

func TestParseSpec(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Spec
	}{
		{"stdout", "stdout", Spec{Raw: "stdout", Kind: KindStdout}},
		{"json min priority", "json?min_priority=warning", Spec{Raw: "json?min_priority=warning", Kind: KindJSON, MinPriority: "warning"}},
		{"file", "file:/var/log/ruled.json", Spec{Raw: "file:/var/log/ruled.json", Kind: KindFile, Path: "/var/log/ruled.json"}},
		{"syslog unix", "syslog://unix/dev/log", Spec{Raw: "syslog://unix/dev/log", Kind: KindSyslog, Network: "unix", Address: "/dev/log"}},
		{"syslog udp facility", "syslog+udp://127.0.0.1:514?facility=daemon&app=agent",
			Spec{Raw: "syslog+udp://127.0.0.1:514?facility=daemon&app=agent", Kind: KindSyslog, Network: "udp", Address: "127.0.0.1:514", Facility: "daemon", AppName: "agent"}},
		{"syslog tcp", "syslog+tcp://[::1]:6514", Spec{Raw: "syslog+tcp://[::1]:6514", Kind: KindSyslog, Network: "tcp", Address: "[::1]:6514"}},
		{"webhook keeps foreign query", "webhook+https://h.example/hook?token=abc&batch_size=10&batch_wait=2s&retries=5",
			Spec{Raw: "webhook+https://h.example/hook?token=abc&batch_size=10&batch_wait=2s&retries=5", Kind: KindWebhook,
				URL: "https://h.example/hook?token=abc", BatchSize: 10, BatchWait: 2 * time.Second, Retries: intp(5)}},
		{"webhook header", "webhook+http://127.0.0.1:8080/x?header=Authorization:+Bearer+${T}&timeout=3s",
			Spec{Raw: "webhook+http://127.0.0.1:8080/x?header=Authorization:+Bearer+${T}&timeout=3s", Kind: KindWebhook,
				URL: "http://127.0.0.1:8080/x", Headers: map[string]string{"Authorization": "Bearer ${T}"}, Timeout: 3 * time.Second}},
		{"falco default path", "falco+http://127.0.0.1:2801", Spec{Raw: "falco+http://127.0.0.1:2801", Kind: KindFalco, URL: "http://127.0.0.1:2801/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSpec(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("ParseSpec(%q) (-want +got):\n%s", tt.in, d)
			}
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "empty output spec"},
		{"unknown", "kafka://x", "unknown output"},
		{"file no path", "file:", "needs a path"},
		{"syslog remote host", "syslog://10.0.0.1/", "local socket"},
		{"syslog no port", "syslog+udp://127.0.0.1", "HOST:PORT"},
		{"bad facility", "syslog+udp://127.0.0.1:514?facility=local9", "unknown syslog facility"},
		{"bad priority", "stdout?min_priority=loud", "unknown priority"},
		{"setting of other kind", "stdout?batch_size=3", `unknown setting "batch_size"`},
		{"falco batch", "falco+http://127.0.0.1:1/?batch_size=5", "batch_size does not apply"},
		{"webhook ftp", "webhook+ftp://x/", "http:// or https://"},
		{"names the spec", "syslog+tcp://x", "output syslog+tcp://x:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpec(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseSpec(%q) = %v, want error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestSpecYAML(t *testing.T) {
	const doc = `
outputs:
  - stdout
  - output: webhook+https://siem.example/alerts
    min_priority: warning
    headers:
      Authorization: Bearer ${TOKEN}
    batch_size: 50
    batch_wait: 2s
    timeout: 5s
    retries: 2
    ca_file: /etc/ruled/ca.pem
  - output: syslog+tcp://127.0.0.1:601
    facility: auth
    app_name: ruled-agent
`
	var cfg struct {
		Outputs []Spec `yaml:"outputs"`
	}
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	want := []Spec{
		{Raw: "stdout", Kind: KindStdout},
		{Raw: "webhook+https://siem.example/alerts", Kind: KindWebhook, URL: "https://siem.example/alerts", MinPriority: "warning",
			Headers: map[string]string{"Authorization": "Bearer ${TOKEN}"}, BatchSize: 50, BatchWait: 2 * time.Second,
			Timeout: 5 * time.Second, Retries: intp(2), CAFile: "/etc/ruled/ca.pem"},
		{Raw: "syslog+tcp://127.0.0.1:601", Kind: KindSyslog, Network: "tcp", Address: "127.0.0.1:601", Facility: "auth", AppName: "ruled-agent"},
	}
	if d := cmp.Diff(want, cfg.Outputs); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestSpecYAMLErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"unknown key with line", "- output: stdout\n  colour: red\n", `line 2: output: unknown key "colour"`},
		{"no output key", "- min_priority: error\n", "needs an output key"},
		{"bad duration", "- output: webhook+http://127.0.0.1:1/\n  timeout: soon\n", "line 2: output webhook+http://127.0.0.1:1/: timeout"},
		{"headers on stdout", "- output: stdout\n  headers: {A: b}\n", "apply to webhook and falco outputs only"},
		{"bad spec string", "- stdout\n- nope\n", "line 2: output nope"},
		{"sequence entry", "- [a]\n", "spec string or a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var specs []Spec
			err := yaml.Unmarshal([]byte(tt.doc), &specs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestSpecStringHidesQuery(t *testing.T) {
	sp, err := ParseSpec("webhook+https://h.example/x?token=secret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sp.String(), "secret") {
		t.Errorf("String() = %q leaks the query", sp.String())
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"stdout", "file:/x", "syslog://unix/dev/log", "syslog+tcp://127.0.0.1:1?facility=daemon",
		"webhook+https://a/b?batch_size=2&header=A:b", "falco+http://h:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			return
		}
		if sp.Kind == "" {
			t.Fatalf("ParseSpec(%q) succeeded without a kind", s)
		}
		// A parsed spec must be accepted again as a config entry.
		if _, err := ParseSpec(sp.Raw); err != nil {
			t.Fatalf("reparse %q: %v", sp.Raw, err)
		}
	})
}

// The shipped example config's outputs section must decode.
func TestExampleConfigOutputs(t *testing.T) {
	b, err := os.ReadFile("../ruled.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Outputs []Spec `yaml:"outputs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Outputs) != 3 || cfg.Outputs[2].Kind != KindSyslog || cfg.Outputs[1].MinPriority != "notice" {
		t.Errorf("outputs %+v", cfg.Outputs)
	}
}
