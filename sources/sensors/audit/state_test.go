package audit

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/elastic/go-libaudit/v2/rule"
	"github.com/elastic/go-libaudit/v2/rule/flags"
)

func TestStateRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ruled")
	old := State{PID: 100, StartTime: 5, Mode: ModeUnicast, Sets: []string{SetBacklogLimit, SetEnabled},
		Found: Status{Enabled: 0, Failure: 1, BacklogLimit: 64, BacklogWaitTime: 15000}, Rules: [][]byte{{1, 2, 3}}}
	newer := State{PID: 200, StartTime: 9, Mode: ModeMulticast, Found: Status{Enabled: 1, PID: 42}}
	for _, st := range []State{old, newer} {
		if err := WriteState(dir, st); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadStates(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []State{newer, old}; !reflect.DeepEqual(got, want) {
		t.Errorf("ReadStates = %+v\nwant (newest first) %+v", got, want)
	}
	// Rewriting replaces, and leaves no temporary file behind.
	old.Sets = nil
	if err := WriteState(dir, old); err != nil {
		t.Fatal(err)
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 2 {
		t.Errorf("files in the state dir: %v, want the two records only", names)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode: %v %v", fi.Mode(), err)
	}
	if err := RemoveState(dir, 100); err != nil {
		t.Fatal(err)
	}
	if err := RemoveState(dir, 100); err != nil {
		t.Errorf("removing a missing record: %v", err)
	}
	got, err = ReadStates(dir)
	if err != nil || len(got) != 1 || got[0].PID != 200 {
		t.Errorf("after remove: %+v, %v", got, err)
	}
}

func TestReadStatesBadFiles(t *testing.T) {
	tests := []struct {
		name, file, text, wantErr string
	}{
		{"not json", "audit-7.json", "{broken", "audit-7.json: invalid character"},
		{"pid does not match the name", "audit-7.json", `{"pid": 8, "start_time": 1}`, "owner pid 8 does not match"},
		{"unknown setting", "audit-7.json", `{"pid": 7, "sets": ["rate_limit"]}`, `unknown setting "rate_limit"`},
		{"unknown key", "audit-7.json", `{"pid": 7, "owner": 1}`, `unknown field "owner"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteState(dir, State{PID: 9, StartTime: 3}); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadStates(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			if len(got) != 1 || got[0].PID != 9 {
				t.Errorf("the good record must still be returned: %+v", got)
			}
		})
	}
	if got, err := ReadStates(filepath.Join(t.TempDir(), "missing")); err != nil || len(got) != 0 {
		t.Errorf("missing dir: %v, %v", got, err)
	}
}

// stat builds a /proc/PID/stat line with state and start time.
func stat(pid, comm string, state byte, start string) []byte {
	f := []string{pid, "(" + comm + ")", string(state)}
	for i := 4; i <= 21; i++ {
		f = append(f, "0")
	}
	f = append(f, start, "0", "0")
	return []byte(strings.Join(f, " ") + "\n")
}

func TestProcStart(t *testing.T) {
	tests := []struct {
		name      string
		in        []byte
		state     byte
		start     uint64
		wantError bool
	}{
		{name: "plain", in: stat("12", "ruled", 'S', "4242"), state: 'S', start: 4242},
		{name: "comm with spaces and parens", in: stat("12", "a) b (c", 'R', "77"), state: 'R', start: 77},
		{name: "zombie", in: stat("12", "ruled", 'Z', "1"), state: 'Z', start: 1},
		{name: "no comm", in: []byte("12 ruled S 1"), wantError: true},
		{name: "short", in: []byte("12 (ruled) S 1 2 3"), wantError: true},
		{name: "bad start", in: stat("12", "ruled", 'S', "x"), wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, running, ok := ProcStart(fstest.MapFS{"12/stat": {Data: tt.in}}, 12)
			if ok == tt.wantError {
				t.Fatalf("ok = %v, want error %v", ok, tt.wantError)
			}
			if wantRunning := tt.state != 'Z'; ok && (running != wantRunning || start != tt.start) {
				t.Errorf("got running %v start %d, want %v %d", running, start, wantRunning, tt.start)
			}
		})
	}
}

func TestStateDead(t *testing.T) {
	proc := fstest.MapFS{
		"10/stat": {Data: stat("10", "ruled", 'S', "500")},
		"11/stat": {Data: stat("11", "ruled", 'Z', "500")},
		"12/stat": {Data: stat("12", "bash", 'S', "999")},
	}
	tests := []struct {
		name string
		st   State
		dead bool
	}{
		{"running owner", State{PID: 10, StartTime: 500}, false},
		{"exited, not yet reaped", State{PID: 11, StartTime: 500}, true},
		{"pid reused by another process", State{PID: 12, StartTime: 500}, true},
		{"no such process", State{PID: 13, StartTime: 500}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.st.Dead(proc); got != tt.dead {
				t.Errorf("Dead = %v, want %v", got, tt.dead)
			}
		})
	}
}

func wire(t *testing.T, text string) []byte {
	t.Helper()
	r, err := flags.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	w, err := rule.Build(r)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestExcludedPID(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
		pid  int
		ok   bool
	}{
		{"ruled's rule", wire(t, "-a always,exit -F arch=b64 -S execve -F pid!=4321 -k exec"), 4321, true},
		{"filter after a path", wire(t, "-a always,exit -F arch=b64 -S openat -F path=/proc/77/root/etc/shadow -F perm=r -F pid!=99 -k cred_read"), 99, true},
		{"container dir= copy (a dead run's is recovered too)", wire(t, "-a always,exit -F arch=b64 -S mkdir,mkdirat -F dir=/var/lib/docker/overlay2/0123/merged -F success=1 -F pid!=99 -k mkdir"), 99, true},
		{"pid equal, not excluded", wire(t, "-a always,exit -F arch=b64 -S execve -F pid=4321"), 0, false},
		{"someone else's rule", wire(t, "-a always,exit -F arch=b64 -S connect -F auid>=1000 -k net"), 0, false},
		{"too short", []byte{1, 2, 3}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, ok := ExcludedPID(tt.wire)
			if pid != tt.pid || ok != tt.ok {
				t.Errorf("ExcludedPID = %d, %v; want %d, %v", pid, ok, tt.pid, tt.ok)
			}
		})
	}
	// Every rule the source builds carries its owner.
	rs, err := ParseRules("-a always,exit -F arch=b64 -S execve -k exec\n-w /etc/shadow -p r -k cred\n", 555, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		c, ok, err := r.ContainerCopy(1234)
		for _, w := range [][]byte{r.Wire, c.Wire} {
			if w == nil && !ok {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if pid, ok := ExcludedPID(w); pid != 555 || !ok {
				t.Errorf("line %d: ExcludedPID = %d, %v; want 555", r.Line, pid, ok)
			}
		}
	}
}
