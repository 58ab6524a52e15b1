package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ruled/ruled/outputs"
	"github.com/ruled/ruled/outputs/respond"
)

// fileConfig is the -config YAML file (ruled.example.yaml documents it).
// Command-line flags override it: -rules, -output and -sources replace the
// corresponding lists when given.
type fileConfig struct {
	Rules     rulePaths      `yaml:"rules"`
	Sources   []string       `yaml:"sources"`
	Outputs   []outputs.Spec `yaml:"outputs"`
	RateLimit *struct {
		Rate  float64 `yaml:"rate"`
		Burst int     `yaml:"burst"`
	} `yaml:"rate_limit"`
	Audit struct {
		Mode         string        `yaml:"mode"`
		RulesFile    string        `yaml:"rules_file"`
		InstallRules string        `yaml:"install_rules"`
		BacklogLimit uint32        `yaml:"backlog_limit"`
		BacklogWait  time.Duration `yaml:"backlog_wait"`
	} `yaml:"audit"`
	Docker struct {
		Socket string `yaml:"socket"`
	} `yaml:"docker"`
	Metrics struct {
		Addr string `yaml:"addr"` // HOST:PORT for Prometheus /metrics; "" is off
	} `yaml:"metrics"`
	CRI struct {
		Socket string `yaml:"socket"` // "" probes containerd's and CRI-O's, "none" disables
	} `yaml:"cri"`
	// ProcEnv: false keeps environments out of events (proc.env).
	ProcEnv      *bool         `yaml:"proc_env"`
	LogLevel     string        `yaml:"log_level"`
	Hostname     string        `yaml:"hostname"`
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	StatsEvery   time.Duration `yaml:"stats_interval"`
	// Responses are opt-in containment actions (outputs/respond).
	Responses []respond.Entry `yaml:"responses"`
}

// loadConfig reads and strictly decodes a config file: an unknown key is an
// error naming its line.
func loadConfig(path string) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parseConfig(b, path)
}

func parseConfig(b []byte, name string) (*fileConfig, error) {
	var c fileConfig
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return &c, nil
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// One line per problem, each FILE: line N: ..., without Go type names.
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				if j := strings.Index(m, " in type "); j >= 0 {
					m = m[:j]
				}
				msgs[i] = name + ": " + m
			}
			return nil, errors.New(strings.Join(msgs, "\n"))
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := respond.Validate(c.Responses); err != nil {
		return nil, fmt.Errorf("%s: responses: %w", name, err)
	}
	for _, s := range c.Sources {
		if s != "audit" && s != "procconn" {
			return nil, fmt.Errorf("%s: sources: unknown source %q (want audit, procconn)", name, s)
		}
	}
	return &c, nil
}
