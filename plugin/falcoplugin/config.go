package falcoplugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Config is the plugin's init config (init_config in falco.yaml).
type Config struct {
	// Rules names ruled rules files or directories ("builtin" is the
	// embedded default pack). Empty: no ruled rules run and the rule
	// fields (ruled.rule ...) stay empty.
	Rules []string `json:"rules,omitempty"`
	// Sources is the comma list opened when open_params is empty.
	Sources string `json:"sources,omitempty"`
	// AuditMode is auto, unicast or multicast. The default is multicast
	// (not auto as standalone) because Falco hosts often run auditd, and a
	// plugin must never take the audit daemon role from it.
	AuditMode string `json:"audit_mode,omitempty"`
	// RateLimit bounds the matches per second of each ruled rule (token
	// bucket); 0 means unlimited.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// LogLevel is debug, info, warn or error; logs go to Falco's stderr.
	LogLevel string `json:"log_level,omitempty"`
}

// Defaults of Config.
const (
	DefaultSources   = "audit,procconn"
	DefaultAuditMode = "multicast"
	DefaultLogLevel  = "info"
)

// initSchema is published through InitSchema so Falco validates the config
// before Init; Init validates again itself because not every host does.
// null is allowed because Falco turns an empty YAML map (init_config: {})
// into the JSON null; it means the defaults, as an empty string does.
const initSchema = `{
  "$schema": "http://json-schema.org/draft-04/schema#",
  "title": "ruled plugin init config",
  "type": ["object", "null"],
  "additionalProperties": false,
  "properties": {
    "rules": {
      "type": "array",
      "items": {"type": "string", "minLength": 1},
      "description": "ruled rules files or directories to evaluate inside the plugin; \"builtin\" is the embedded default pack. Empty: rule fields stay empty."
    },
    "sources": {
      "type": "string",
      "description": "comma list of sources (audit, procconn) opened when open_params is empty",
      "default": "audit,procconn"
    },
    "audit_mode": {
      "type": "string",
      "enum": ["auto", "unicast", "multicast"],
      "description": "how the audit source reads the kernel: multicast (read-only, coexists with auditd), unicast (become the audit daemon), auto",
      "default": "multicast"
    },
    "rate_limit": {
      "type": "number",
      "minimum": 0,
      "description": "matches per second per ruled rule; 0 = unlimited",
      "default": 0
    },
    "log_level": {
      "type": "string",
      "enum": ["debug", "info", "warn", "error"],
      "default": "info"
    }
  }
}`

// ParseConfig decodes and validates an init config. An empty string, {} and
// null (Falco's rendering of an empty YAML map) are the default config.
func ParseConfig(s string) (Config, error) {
	var c Config
	if strings.TrimSpace(s) != "" {
		d := json.NewDecoder(strings.NewReader(s))
		d.DisallowUnknownFields()
		if err := d.Decode(&c); err != nil {
			return Config{}, fmt.Errorf("init config: %w", err)
		}
		if d.More() {
			return Config{}, errors.New("init config: trailing data after the JSON object")
		}
	}
	if c.Sources == "" {
		c.Sources = DefaultSources
	}
	if c.AuditMode == "" {
		c.AuditMode = DefaultAuditMode
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if _, err := parseSourceList(c.Sources); err != nil {
		return Config{}, fmt.Errorf("init config: sources: %w", err)
	}
	switch c.AuditMode {
	case "auto", "unicast", "multicast":
	default:
		return Config{}, fmt.Errorf("init config: audit_mode %q: want auto, unicast or multicast", c.AuditMode)
	}
	if c.RateLimit < 0 {
		return Config{}, fmt.Errorf("init config: rate_limit %v: must be >= 0", c.RateLimit)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return Config{}, fmt.Errorf("init config: %w", err)
	}
	for i, r := range c.Rules {
		if strings.TrimSpace(r) == "" {
			return Config{}, fmt.Errorf("init config: rules[%d] is empty", i)
		}
	}
	return c, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
