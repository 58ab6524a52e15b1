// Package falcosidekick runs ruled's falco+http output against the real
// falcosidekick (../shared/falcosidekick, unpacked into a temporary
// directory): every alert of a replay is accepted, logged with every field
// (its DEBUG payload log), counted on its /metrics and passed on through its
// webhook output to a receiver in the test, and falcosidekick's
// OUTPUTFIELDFORMAT and custom fields apply to ruled's output text as they
// do to Falco's. No root needed; under CI=true the test fails instead of
// skipping when falcosidekick cannot run.
package falcosidekick

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/engine/ruletest"
	"github.com/ruled/ruled/test/e2e"
)

// payload is the Falco alert JSON as ruled sends it and falcosidekick
// forwards it (plus its uuid).
type payload struct {
	UUID         string         `json:"uuid"`
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Time         string         `json:"time"`
	Source       string         `json:"source"`
	Hostname     string         `json:"hostname"`
	Tags         []string       `json:"tags"`
	OutputFields map[string]any `json:"output_fields"`
}

func decode(t *testing.T, b []byte) payload {
	t.Helper()
	var p payload
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&p); err != nil {
		t.Fatalf("alert JSON: %v: %s", err, b)
	}
	return p
}

// unpack writes ../shared/falcosidekick/falcosidekick.xz, decompressed,
// into a temporary directory and returns the executable's path.
func unpack(t *testing.T, root string) string {
	t.Helper()
	xz := filepath.Join(filepath.Dir(root), "shared", "falcosidekick", "falcosidekick.xz")
	if _, err := os.Stat(xz); err != nil {
		e2e.Unavailable(t, "falcosidekick not found (../shared/falcosidekick): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "falcosidekick")
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("xz", "-dc", xz)
	cmd.Stdout = out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("xz -dc %s: %v: %s (test/setup.sh installs xz-utils)", xz, err, stderr.Bytes())
	}
	return bin
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// events encodes the default pack's test cases as JSON lines: many rules,
// and events that do not know every field (no uid, no user, no container
// name), which must reach falcosidekick as null.
func events(t *testing.T, root string) []byte {
	t.Helper()
	cases, err := ruletest.ReadFiles([]string{filepath.Join(root, "rules", "tests")})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i, c := range cases {
		c.Event.Evt.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
		line, err := json.Marshal(c.Event)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestFalcoOutput(t *testing.T) {
	root := repoRoot(t)
	sidekick := unpack(t, root)
	ruled := e2e.RuledBinary(t)

	// The webhook receiver falcosidekick forwards to.
	var mu sync.Mutex
	var forwarded [][]byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		forwarded = append(forwarded, b)
		mu.Unlock()
	}))
	defer recv.Close()

	port := freePort(t)
	sk := e2e.StartAgent(t, sidekick, []string{
		"LISTENADDRESS=127.0.0.1", "LISTENPORT=" + strconv.Itoa(port), "DEBUG=true",
		"WEBHOOK_ADDRESS=" + recv.URL + "/",
		// Applied to the output text after Falco's "time: priority" prefix.
		"CUSTOMFIELDS=team:sec", "OUTPUTFIELDFORMAT=<timestamp>: <priority> <output> <custom_fields>",
	})
	sk.WaitLog(t, "Falcosidekick is up and listening", 20*time.Second)

	evFile := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(evFile, events(t, root), 0o644); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("falco+http://127.0.0.1:%d/", port)
	cmd := exec.Command(ruled, "-replay", evFile, "-output", "json", "-output", url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ruled -replay: %v\n%s", err, stderr.Bytes())
	}
	var sent []payload
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		sent = append(sent, decode(t, sc.Bytes()))
	}
	if len(sent) < 50 {
		t.Fatalf("ruled raised only %d alerts on the pack's test cases", len(sent))
	}
	// Accepted: every POST got a 2xx (falcosidekick answers 200 or 400).
	if want := fmt.Sprintf(`msg="output stats" output=%s sent=%d failed=0`, url, len(sent)); !strings.Contains(stderr.String(), want) {
		t.Errorf("ruled's log lacks %s:\n%s", want, stderr.Bytes())
	}

	// Logged with every field: falcosidekick's DEBUG payload log.
	const logPrefix = "Falco's payload : "
	var logged []payload
	if !waitFor(10*time.Second, func() bool {
		logged = logged[:0]
		for _, l := range strings.Split(sk.Log(), "\n") {
			if _, js, ok := strings.Cut(l, logPrefix); ok {
				logged = append(logged, decode(t, []byte(js)))
			}
		}
		return len(logged) >= len(sent)
	}) {
		t.Fatalf("falcosidekick logged %d payloads, ruled sent %d", len(logged), len(sent))
	}
	nulls := 0
	for i, want := range sent {
		got := logged[i]
		// OUTPUTFIELDFORMAT appended the custom field, which is only done
		// to an output that starts with Falco's "time: priority" prefix.
		if got.Output != want.Output+" team=sec" {
			t.Errorf("alert %d: falcosidekick's output %q, want ruled's %q + team=sec", i, got.Output, want.Output)
		}
		if got.Rule != want.Rule || got.Priority != want.Priority || got.Time != want.Time || got.Source != "ruled" ||
			got.Hostname != want.Hostname || !sameSet(got.Tags, want.Tags) {
			t.Errorf("alert %d: falcosidekick logged %+v, ruled sent %+v", i, got, want)
		}
		for k, v := range want.OutputFields {
			gv, ok := got.OutputFields[k]
			if !ok || !reflect.DeepEqual(gv, v) {
				t.Errorf("alert %d (%s): output_fields[%s] = %#v (present %v), ruled sent %#v", i, want.Rule, k, gv, ok, v)
			}
			if v == nil {
				nulls++
			}
		}
		if got.OutputFields["team"] != "sec" {
			t.Errorf("alert %d: custom field team missing: %v", i, got.OutputFields)
		}
		// proc.uid printed as 0 must mean root; arg_uid=0 (a setuid target) is a real value.
		if procUIDZero.MatchString(want.Output) && want.OutputFields["proc.user"] != "root" {
			t.Errorf("alert %d: uid=0 printed without user root: %q", i, want.Output)
		}
	}
	if nulls == 0 {
		t.Error("no unknown (null) output field reached falcosidekick; the test events should have some")
	}

	// Counted on /metrics.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf(`falcosecurity_falcosidekick_inputs_total{source="requests",status="accepted"} %d`, len(sent)); !bytes.Contains(metrics, []byte(want)) {
		t.Errorf("/metrics lacks %s:\n%s", want, grep(metrics, "falcosidekick_inputs"))
	}

	// Passed on through the webhook output.
	if !waitFor(20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(forwarded) >= len(sent)
	}) {
		mu.Lock()
		t.Fatalf("the webhook received %d alerts, ruled sent %d", len(forwarded), len(sent))
	}
	mu.Lock()
	defer mu.Unlock()
	byUUID := map[string]payload{}
	for _, l := range logged {
		byUUID[l.UUID] = l
	}
	for _, b := range forwarded {
		f := decode(t, b)
		l, ok := byUUID[f.UUID]
		if !ok {
			t.Errorf("webhook got an alert falcosidekick did not log: %s", b)
			continue
		}
		if f.Output != l.Output || f.Rule != l.Rule || !reflect.DeepEqual(f.OutputFields, l.OutputFields) {
			t.Errorf("webhook payload differs from the accepted one:\n%+v\n%+v", f, l)
		}
	}
	t.Logf("%d alerts accepted, logged, counted and forwarded; %d null fields", len(sent), nulls)
}

// sameSet: falcosidekick sorts the tags.
var procUIDZero = regexp.MustCompile(`(^|[^A-Za-z0-9_])uid=0\b`)

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func grep(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func waitFor(d time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}
