package scenarios

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
	"github.com/ruled/ruled/test/e2e"
)

var update = flag.Bool("update", false, "rewrite RESULTS.md from this run")

const (
	// alertWait bounds how long a scenario waits for each expected alert.
	alertWait = 8 * time.Second
	// quietWait lets late alerts of the last scenarios arrive before the
	// suite checks that nothing unexpected fired.
	quietWait = 3 * time.Second
	readyWait = 30 * time.Second
)

// box is a started scenario container.
type box struct {
	name, id string
	err      error // the container could not start (optional scenarios)
}

// outcome is what one expected alert did.
type outcome struct {
	sc       *scenario
	w        want
	al       *alert
	action   time.Time
	problems []string
}

func (o *outcome) passed() bool { return o.al != nil && len(o.problems) == 0 }

func TestScenarios(t *testing.T) {
	e2e.RequireDocker(t)
	bin := e2e.RuledBinary(t)
	tag := strconv.Itoa(os.Getpid())
	removeStale(t)
	image := buildImage(t, tag)
	allRules, err := defaultRules(rulesDir)
	if err != nil {
		t.Fatalf("list default rules: %v", err)
	}

	before := e2e.ReadAuditState(t)
	ag := startAgent(t, bin, "-output", "json")
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_, _ = ag.stop(15 * time.Second)
		}
		// Whatever ruled left, put it back for the tests after this one.
		before.Restore(t, e2e.ReadAuditState(t))
	})
	waitReady(t, ag, image, tag)

	boxes := startBoxes(t, image, tag)
	// ruled learns container names from the Docker API off the event path;
	// give it a moment for the containers just started.
	time.Sleep(time.Second)

	var outcomes []*outcome
	hostPIDs := map[string]string{} // pid -> scenario
	skipped := map[string]string{}  // scenario -> why it did not run
	for i := range scenarios {
		sc := &scenarios[i]
		t.Run(sc.name, func(t *testing.T) {
			if sc.host != nil {
				start := time.Now()
				var pids []string
				for _, argv := range sc.host {
					cmd := exec.Command(argv[0], argv[1:]...)
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
					pid := strconv.Itoa(cmd.Process.Pid)
					hostPIDs[pid] = sc.name
					pids = append(pids, pid)
					if err := cmd.Wait(); err != nil {
						t.Errorf("%v: %v", argv, err)
					}
				}
				deadline := start.Add(alertWait)
				for _, w := range sc.want {
					o := &outcome{sc: sc, w: w, action: start}
					outcomes = append(outcomes, o)
					o.al = ag.waitFor(start, time.Until(deadline), func(a *alert) bool {
						return a.Rule == w.rule && a.get("container.id") == event.HostID && slices.Contains(pids, a.get("proc.pid"))
					})
					switch {
					case o.al == nil:
						o.problems = append(o.problems, "no alert")
						t.Errorf("missed detection: no %q alert for host pids %v within %v", w.rule, pids, alertWait)
					case w.proc != "" && o.al.get("proc.name") != w.proc:
						o.problems = append(o.problems, fmt.Sprintf("proc.name %q, want %q", o.al.get("proc.name"), w.proc))
						t.Errorf("%q: %s", w.rule, o.problems[0])
					}
				}
				return
			}
			b := boxes[sc.name]
			if b.err != nil {
				skipped[sc.name] = sc.optional
				if os.Getenv("CI") == "true" {
					// test/setup.sh prepares CI's machine for every scenario.
					t.Errorf("container did not start in CI: %s: %v", sc.optional, b.err)
					return
				}
				t.Logf("container did not start, rules reported not covered live: %s: %v", sc.optional, b.err)
				return
			}
			for _, argv := range sc.setup {
				if out, err := execIn(b.name, nil, argv); err != nil {
					t.Fatalf("setup %v: %v\n%s", argv, err, out)
				}
			}
			start := time.Now()
			if sc.action != nil {
				if out, err := execIn(b.name, sc.execFlags, sc.action); err != nil && !sc.actionMayFail {
					t.Errorf("action %v: %v\n%s", sc.action, err, out)
				}
			}
			// One deadline for all of the scenario's alerts: they come
			// from one action.
			deadline := start.Add(alertWait)
			for _, w := range sc.want {
				o := &outcome{sc: sc, w: w, action: start}
				outcomes = append(outcomes, o)
				ours := func(a *alert) bool {
					return a.Rule == w.rule && a.get("container.id") == b.id
				}
				// A rule may fire on several processes of one action (nc
				// dup2s the socket onto its stdio before exec'ing the
				// shell): wait for the one the scenario names, and judge
				// another only when that one never comes.
				since := start
				if w.atStart {
					since = time.Time{}
				}
				o.al = ag.waitFor(since, time.Until(deadline), func(a *alert) bool {
					return ours(a) && (w.proc == "" || a.get("proc.name") == w.proc)
				})
				if o.al == nil {
					o.al = ag.waitFor(since, 0, ours)
				}
				if o.al == nil {
					o.problems = append(o.problems, "no alert")
					t.Errorf("missed detection: no %q alert for container %s (%s) within %v%s",
						w.rule, b.name, b.id[:12], alertWait, nearMisses(ag, start, w.rule, b.id))
					continue
				}
				o.problems = checkAlert(o.al, b, w)
				for _, p := range o.problems {
					t.Errorf("%q: %s", w.rule, p)
				}
			}
		})
	}

	time.Sleep(quietWait)
	var findings []finding
	t.Run("no unexpected alerts", func(t *testing.T) {
		findings = unexpected(ag.snapshot(), boxes, hostPIDs)
		for _, f := range findings {
			t.Error(f.msg)
		}
		for _, l := range ag.badLines() {
			t.Errorf("ruled stdout line is not an alert: %s", l)
		}
	})

	code, err := ag.stop(15 * time.Second)
	stopped = true
	if err != nil {
		t.Error(err)
	} else if code != 0 {
		t.Errorf("ruled exited %d after SIGTERM, want 0", code)
	}
	after := e2e.ReadAuditState(t)
	for _, d := range before.Diff(after) {
		t.Errorf("audit state not restored by ruled: %s", d)
	}
	if t.Failed() {
		ag.logTail(t)
	}

	table := resultsTable(outcomes, allRules, skipped, findings)
	t.Logf("results:\n%s", table)
	if *update {
		if err := os.WriteFile("RESULTS.md", []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := updateReadme("../../README.md", table); err != nil {
			t.Fatal(err)
		}
	}
}

// Markers of the generated part of README.md.
const (
	readmeBegin = "<!-- scenarios:begin (generated by test/scenarios -update) -->"
	readmeEnd   = "<!-- scenarios:end -->"
)

// updateReadme puts the results table (without its title) between the
// README's markers, so the README's table is the suite's, never hand-made.
func updateReadme(path, table string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s: markers %q ... %q not found", path, readmeBegin, readmeEnd)
	}
	body := table
	if k := strings.Index(body, "\n"); strings.HasPrefix(body, "# ") && k >= 0 {
		body = body[k+1:]
	}
	body = strings.ReplaceAll(body, "\n## ", "\n### ")
	out := s[:i+len(readmeBegin)] + "\n" + strings.TrimSpace(body) + "\n" + s[j:]
	return os.WriteFile(path, []byte(out), 0o644)
}

// startBoxes starts every scenario's container, a few at a time: docker
// run is most of the suite's set-up time.
func startBoxes(t *testing.T, image, tag string) map[string]*box {
	t.Helper()
	boxes := map[string]*box{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range scenarios {
		sc := &scenarios[i]
		if sc.host != nil {
			continue
		}
		b := &box{name: prefix + sc.name + "-" + tag}
		boxes[sc.name] = b
		cmd := sc.cmd
		if cmd == nil {
			cmd = []string{"sleep", "600"}
		}
		name := b.name
		t.Cleanup(func() { _, _ = docker(context.Background(), nil, "rm", "-f", name) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			id, err := runBox(b.name, image, sc.flags, cmd)
			mu.Lock()
			b.id, b.err = id, err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := range scenarios {
		sc := &scenarios[i]
		if b := boxes[sc.name]; b != nil && b.err != nil && sc.optional == "" {
			t.Fatalf("scenario %s: %v", sc.name, b.err)
		}
	}
	return boxes
}

// startBox starts a scenario container; for optional scenarios the error
// is returned instead of failing the test.
func startBox(t *testing.T, name, image string, flags, cmd []string) (string, error) {
	t.Helper()
	t.Cleanup(func() { _, _ = docker(context.Background(), nil, "rm", "-f", name) })
	return runBox(name, image, flags, cmd)
}

func runBox(name, image string, flags, cmd []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"run", "-d", "--name", name, "--network", "none"}
	if slices.Contains(flags, "--privileged") && hasRuntime(ctx, testRuntime) {
		args = append(args, "--runtime="+testRuntime)
	}
	args = append(args, flags...)
	args = append(args, image)
	args = append(args, cmd...)
	id, err := docker(ctx, nil, args...)
	if err != nil {
		return "", err
	}
	if len(id) != 64 {
		return "", fmt.Errorf("docker run %s: unexpected id %q", name, id)
	}
	return id, nil
}

// testRuntime is the runc wrapper test/setup.sh registers with dockerd
// (test/runcwrap).
const testRuntime = "ruled-test-runc"

// hasRuntime reports whether dockerd knows the OCI runtime name.
func hasRuntime(ctx context.Context, name string) bool {
	out, err := docker(ctx, nil, "info", "-f", "{{range $k, $v := .Runtimes}}{{$k}} {{end}}")
	return err == nil && slices.Contains(strings.Fields(out), name)
}

// waitReady proves the whole pipeline is live: a warm-up container runs a
// package manager (an exec, which every source sees) until its alert comes
// back. The warm-up container's alerts are not judged.
func waitReady(t *testing.T, ag *agent, image, tag string) {
	t.Helper()
	name := prefix + "warmup-" + tag
	id, err := startBox(t, name, image, nil, []string{"sleep", "600"})
	if err != nil {
		t.Fatalf("warm-up container: %v", err)
	}
	deadline := time.Now().Add(readyWait)
	for time.Now().Before(deadline) {
		if !ag.running() {
			ag.logTail(t)
			t.Fatalf("ruled exited during start-up: %v", ag.err)
		}
		start := time.Now()
		if out, err := execIn(name, nil, []string{"apt-get", "update"}); err != nil {
			t.Fatalf("warm-up exec: %v\n%s", err, out)
		}
		if ag.waitFor(start, time.Second, func(a *alert) bool { return a.get("container.id") == id }) != nil {
			return
		}
	}
	ag.logTail(t)
	t.Fatalf("ruled raised no alert for the warm-up container within %v: the pipeline is not live", readyWait)
}

// checkAlert verifies attribution: container name, process, parent and the
// remote end of network rules.
func checkAlert(a *alert, b *box, w want) []string {
	var p []string
	if got := a.get("container.name"); got != b.name {
		p = append(p, fmt.Sprintf("misattributed: container.name %q, want %q", got, b.name))
	}
	if w.proc != "" {
		if got := a.get("proc.name"); got != w.proc {
			p = append(p, fmt.Sprintf("proc.name %q, want %q (cmdline %q)", got, w.proc, a.get("proc.cmdline")))
		}
	}
	if w.pname != "" {
		if got, ok := a.field("proc.pname"); ok && got != w.pname {
			p = append(p, fmt.Sprintf("proc.pname %q, want %q", got, w.pname))
		}
	}
	if w.remote != "" {
		fd := a.get("fd.rip") + ":" + a.get("fd.rport")
		stdin := a.get("proc.stdin.rip") + ":" + a.get("proc.stdin.rport")
		if fd != w.remote && stdin != w.remote {
			p = append(p, fmt.Sprintf("remote end fd=%s stdin=%s, want %s", fd, stdin, w.remote))
		}
	}
	return p
}

// nearMisses describes alerts of the wanted rule that went to another
// container (or the host): the usual sign of misattribution.
func nearMisses(ag *agent, since time.Time, rule, id string) string {
	var elsewhere, here []string
	for _, a := range ag.snapshot() {
		if a.recv.Before(since) {
			continue
		}
		switch {
		case a.Rule == rule:
			elsewhere = append(elsewhere, fmt.Sprintf("container.id=%q name=%q proc=%q", a.get("container.id"), a.get("container.name"), a.get("proc.cmdline")))
		case a.get("container.id") == id:
			here = append(here, fmt.Sprintf("%q (proc=%q pname=%q)", a.Rule, a.get("proc.cmdline"), a.get("proc.pname")))
		}
	}
	var s string
	if len(elsewhere) > 0 {
		s += "; the rule fired elsewhere: " + strings.Join(elsewhere, "; ")
	}
	if len(here) > 0 {
		s += "; this container raised: " + strings.Join(here, ", ")
	}
	return s
}

// unexpected lists every alert on a scenario container or host process that
// its scenario did not expect, and every alert whose container name and id
// disagree with what the suite started.
// finding is one problem the final check found, with the scenario it
// concerns ("" when the alert names no scenario of ours).
type finding struct {
	scenario, msg string
}

func unexpected(alerts []*alert, boxes map[string]*box, hostPIDs map[string]string) []finding {
	byID := map[string]string{}
	byName := map[string]string{}
	for sc, b := range boxes {
		if b.err == nil {
			byID[b.id] = sc
			byName[b.name] = sc
		}
	}
	expected := map[string][]string{}
	for _, sc := range scenarios {
		for _, w := range sc.want {
			expected[sc.name] = append(expected[sc.name], w.rule)
		}
	}
	var out []finding
	for _, a := range alerts {
		id, name := a.get("container.id"), a.get("container.name")
		sc, ours := byID[id]
		if nsc, named := byName[name]; named && nsc != sc {
			out = append(out, finding{nsc, fmt.Sprintf("misattributed: %q alert names container %q but carries id %q", a.Rule, name, id)})
			continue
		}
		if !ours && strings.HasPrefix(name, prefix) && !strings.HasPrefix(name, prefix+"warmup-") {
			out = append(out, finding{"", fmt.Sprintf("misattributed: %q alert for %q with unknown id %q", a.Rule, name, id)})
			continue
		}
		if !ours && id == "host" {
			if hsc, ok := hostPIDs[a.get("proc.pid")]; ok && !slices.Contains(expected[hsc], a.Rule) {
				out = append(out, finding{hsc, fmt.Sprintf("false positive: host scenario %s raised %q: %s", hsc, a.Rule, a.Output)})
			}
			continue
		}
		if ours && !slices.Contains(expected[sc], a.Rule) {
			out = append(out, finding{sc, fmt.Sprintf("false positive: scenario %s raised unexpected %q (proc %q): %s", sc, a.Rule, a.get("proc.cmdline"), a.Output)})
		}
	}
	return out
}

// resultsTable renders RESULTS.md: one row per expected alert, one per
// benign twin, and every default rule without a passing live scenario.
func resultsTable(outcomes []*outcome, allRules []string, skipped map[string]string, findings []finding) string {
	var b strings.Builder
	b.WriteString("# Detection scenarios (live)\n\n")
	b.WriteString("Generated by `go test ./test/scenarios -run TestScenarios -update` (as root, Docker, test/setup.sh):\n")
	b.WriteString("every attack performed for real in a throwaway container against the real `ruled -output json`\n")
	b.WriteString("with the default rules. *Action→alert* is from the start of `docker exec` to the alert line on\n")
	b.WriteString("ruled's stdout; *kernel→alert* from the alert's event time to that line.\n\n")
	b.WriteString("| Scenario | MITRE | Rule | Result | Action→alert (ms) | Kernel→alert (ms) |\n")
	b.WriteString("|---|---|---|---|---:|---:|\n")
	covered := map[string]bool{}
	for _, o := range outcomes {
		res, act, kern := "MISSED", "", ""
		if o.al != nil {
			res = "ok"
			if len(o.problems) > 0 {
				res = "wrong: " + strings.Join(o.problems, "; ")
			}
			act = strconv.FormatInt(o.al.recv.Sub(o.action).Milliseconds(), 10)
			if o.w.atStart {
				act = "(at docker run)"
			}
			if !o.al.Time.IsZero() {
				kern = strconv.FormatInt(o.al.recv.Sub(o.al.Time).Milliseconds(), 10)
			}
		}
		if o.passed() {
			covered[o.w.rule] = true
		}
		fmt.Fprintf(&b, "| %s: %s | %s | %s | %s | %s | %s |\n", o.sc.name, o.sc.title, o.sc.mitre, o.w.rule, res, act, kern)
	}
	for _, sc := range scenarios {
		if why, ok := skipped[sc.name]; ok {
			for _, w := range sc.want {
				fmt.Fprintf(&b, "| %s: %s | %s | %s | not run: %s | | |\n", sc.name, sc.title, sc.mitre, w.rule, why)
			}
		}
	}
	b.WriteString("\n## Benign twins (must raise nothing)\n\n| Scenario | Guards against | Result |\n|---|---|---|\n")
	for _, sc := range scenarios {
		if !sc.benign {
			continue
		}
		res := "silent"
		if why, ok := skipped[sc.name]; ok {
			res = "not run: " + why
		}
		for _, f := range findings {
			if f.scenario == sc.name {
				res = "ALERTED (see test log)"
			}
		}
		fmt.Fprintf(&b, "| %s: %s | %s | %s |\n", sc.name, sc.title, strings.Join(sc.twinOf, ", "), res)
	}
	var missing []string
	for _, r := range allRules {
		if !covered[r] {
			missing = append(missing, r)
		}
	}
	sort.Strings(missing)
	b.WriteString("\n## Default rules not covered live\n\n")
	if len(missing) == 0 {
		b.WriteString("None: every default rule has a passing live scenario.\n")
		return b.String()
	}
	b.WriteString("| Rule | Why |\n|---|---|\n")
	for _, r := range missing {
		why := notCoveredWhy[r]
		for _, sc := range scenarios {
			if reason, ok := skipped[sc.name]; ok && why == "" && slices.ContainsFunc(sc.want, func(w want) bool { return w.rule == r }) {
				why = "scenario " + sc.name + " could not run here: " + reason
			}
		}
		if why == "" {
			why = "not covered live: its scenario did not pass in this run"
			if !hasScenario(r) {
				why = "not covered live: no scenario"
			}
		}
		fmt.Fprintf(&b, "| %s | %s |\n", r, why)
	}
	return b.String()
}

func hasScenario(rule string) bool {
	for _, sc := range scenarios {
		for _, w := range sc.want {
			if w.rule == rule {
				return true
			}
		}
	}
	return false
}
