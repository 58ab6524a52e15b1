package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFaultFileOutputFull: the file output's filesystem (a small tmpfs)
// fills up, then is freed. Alerts keep flowing to the other output; what
// the file could not take is counted (failed or dropped); once there is
// room the file gets alerts again; and every line in it is whole JSON.
func TestFaultFileOutputFull(t *testing.T) {
	s := newSuite(t, "")
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	path := filepath.Join(mnt, "alerts.json")
	a := s.start(t, "-output", "file:"+path)
	s.flows(t, a, "roomy")

	// Fill what is left with a file of our own.
	filler := filepath.Join(mnt, "filler")
	out, _ := exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=1k", "count=4096").CombinedOutput()
	if !strings.Contains(string(out), "No space left") {
		t.Fatalf("dd did not fill the tmpfs: %s", out)
	}
	n := s.run(t, "full", 200, 2)
	if got := waitMarkers(a, "full", n, 10*time.Second); got != n {
		t.Errorf("stdout output: %d of %d marker alerts while the file's filesystem was full", got, n)
	}
	a.WaitLog(t, "output delivery failed", 30*time.Second)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s.flows(t, a, "freed")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Count(string(b), "fault marker "+s.marker+" freed ") >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the file output did not get the alerts raised after the space was freed:\n%s", tailText(string(b), 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop(t, a)

	// Accounting: every alert the file output took is in the file or
	// counted as failed or dropped.
	lines, bad := countLines(t, path)
	if len(bad) > 0 {
		t.Errorf("%d lines of the file are not whole JSON (a partial write left behind):\n%s", len(bad), strings.Join(bad[:min(len(bad), 5)], "\n"))
	}
	file := lastLog(a.Log(), "output stats", "output=file:")
	json := lastLog(a.Log(), "output stats", "output=json")
	if file == nil || json == nil {
		t.Fatalf("no final output stats in the log")
	}
	sent, failed, dropped, queued := num(file, "sent"), num(file, "failed"), num(file, "dropped"), num(file, "queued")
	if failed+dropped == 0 {
		t.Errorf("nothing counted as failed or dropped while the filesystem was full: %v", file)
	}
	if uint64(lines) != sent {
		t.Errorf("the file has %d lines, the output counted %d sent", lines, sent)
	}
	if total := num(json, "sent"); sent+failed+dropped+queued != total {
		t.Errorf("file output: sent %d + failed %d + dropped %d + queued %d = %d, want the %d alerts the json output sent",
			sent, failed, dropped, queued, sent+failed+dropped+queued, total)
	}
	t.Logf("file output: %s", fmt.Sprint(file))
}

func tailText(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
