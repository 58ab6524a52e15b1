package inspect

import (
	"os"
	"reflect"
	"testing"
	"testing/fstest"
)

const webID = "1c033df0629c9a4fb6c814488a63e7f37e83171b0d5ec8d89cc764714c526d77"

func TestReadAlerts(t *testing.T) {
	f, err := os.Open("testdata/alerts/alerts.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadAlerts(f, webID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, a := range got {
		rules = append(rules, a.Rule)
	}
	want := []string{"Reverse shell", "Drop and execute new binary in container"}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("rules %q, want %q", rules, want)
	}
	f.Seek(0, 0)
	last, _ := ReadAlerts(f, webID, 1)
	if len(last) != 1 || last[0].Rule != want[1] {
		t.Errorf("max 1: %+v", last)
	}
}

func TestFindAlertFiles(t *testing.T) {
	cmd := func(args ...string) []byte {
		var b []byte
		for _, a := range args {
			b = append(append(b, a...), 0)
		}
		return b
	}
	proc := fstest.MapFS{
		"10/comm":                {Data: []byte("ruled\n")},
		"10/cmdline":             {Data: cmd("/usr/bin/ruled", "-output", "stdout", "-output=file:alerts.json", "--output", "file:/var/log/r.json")},
		"10/cwd":                 {Data: []byte("/srv"), Mode: 0o777 | 1<<27},
		"20/comm":                {Data: []byte("ruled\n")},
		"20/cmdline":             {Data: cmd("ruled", "-config", "/etc/ruled.yaml")},
		"20/cwd":                 {Data: []byte("/"), Mode: 0o777 | 1<<27},
		"20/root/etc/ruled.yaml": {Data: []byte("outputs:\n  - stdout\n  - output: file:/var/log/ruled/alerts.json\n    min_priority: warning\n")},
		"30/comm":                {Data: []byte("bash\n")},
		"30/cmdline":             {Data: cmd("bash", "-output", "file:/nope")},
	}
	got := FindAlertFiles(proc)
	var paths []string
	for _, f := range got {
		paths = append(paths, f.Path)
	}
	want := []string{"10/root/srv/alerts.json", "10/root/var/log/r.json", "20/root/var/log/ruled/alerts.json"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths %q, want %q (%+v)", paths, want, got)
	}
}
