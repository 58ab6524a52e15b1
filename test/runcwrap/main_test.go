package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStripFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"ociVersion":"1.0.2","process":{"capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE","CAP_SYS_ADMIN"],"effective":["CAP_SYS_RESOURCE"]}},"root":{"path":"rootfs"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := stripFile(cfg, false, map[string]bool{"CAP_SYS_RESOURCE": true}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cfg)
	if s := string(b); strings.Contains(s, "CAP_SYS_RESOURCE") || !strings.Contains(s, `"bounding":["CAP_CHOWN","CAP_SYS_ADMIN"]`) || !strings.Contains(s, `"effective":[]`) || !strings.Contains(s, `"rootfs"`) {
		t.Errorf("config.json after strip: %s", s)
	}
	proc := filepath.Join(dir, "process.json")
	if err := os.WriteFile(proc, []byte(`{"args":["sh"],"capabilities":{"permitted":["CAP_SYS_RESOURCE","CAP_KILL"]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := stripFile(proc, true, map[string]bool{"CAP_SYS_RESOURCE": true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(proc); !strings.Contains(string(b), `"permitted":["CAP_KILL"]`) {
		t.Errorf("process.json after strip: %s", b)
	}
	if _, err := missingCaps(); err != nil {
		t.Errorf("this host's bounding set: %v", err)
	}
}
