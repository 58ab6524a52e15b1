package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// summary is one agent's figures for one storm and stream count over the
// runs of a -repeat: this VM's exec rate moves by several percent from
// one minute to the next (the hypervisor), so one pair of rows can say
// the opposite of the next. The cost against auditd is paired: each run's
// difference, taken within the run, where both met the same machine.
type summary struct {
	streams      int
	agent, storm string
	runs         int
	rate         float64 // median ops/s
	cost         float64 // median cost, %
	costMin      float64
	costMax      float64
	cpu          float64 // median agent CPU µs per op
	host         float64 // median host CPU µs per op
	// vsAuditd are the run's cost minus auditd's in the same run (points),
	// hostVsAuditd its host CPU per op minus auditd's (µs), each sorted;
	// empty for auditd itself or without auditd rows.
	vsAuditd, hostVsAuditd []float64
}

// summarize groups rows by stream count, agent and storm, in the order
// they first appear.
func summarize(rows []row) []summary {
	type key struct {
		streams      int
		agent, storm string
	}
	type runKey struct {
		run, streams int
		storm        string
	}
	auditd := map[runKey]row{}
	for _, r := range rows {
		if r.agent == agentAuditd {
			auditd[runKey{r.run, r.streams, r.storm}] = r
		}
	}
	var order []key
	groups := map[key][]row{}
	for _, r := range rows {
		k := key{r.streams, r.agent, r.storm}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []summary
	for _, k := range order {
		g := groups[k]
		s := summary{streams: k.streams, agent: k.agent, storm: k.storm, runs: len(g)}
		var rates, costs, cpus, hosts []float64
		for _, r := range g {
			rates = append(rates, r.rate)
			costs = append(costs, r.cost)
			cpus = append(cpus, r.cpuPerOp)
			hosts = append(hosts, r.hostCPU)
			a, ok := auditd[runKey{r.run, r.streams, r.storm}]
			if !ok || k.agent == agentAuditd {
				continue
			}
			if d := r.cost - a.cost; !math.IsNaN(d) {
				s.vsAuditd = append(s.vsAuditd, d)
			}
			if d := r.hostCPU - a.hostCPU; !math.IsNaN(d) {
				s.hostVsAuditd = append(s.hostVsAuditd, d)
			}
		}
		slices.Sort(s.vsAuditd)
		slices.Sort(s.hostVsAuditd)
		s.rate, s.cost, s.cpu, s.host = median(rates), median(costs), median(cpus), median(hosts)
		s.costMin, s.costMax = minMax(costs)
		out = append(out, s)
	}
	return out
}

// median of the values that are not NaN; NaN when none is.
func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func minMax(xs []float64) (lo, hi float64) {
	lo, hi = math.NaN(), math.NaN()
	for _, x := range xs {
		if math.IsNaN(x) {
			continue
		}
		if math.IsNaN(lo) || x < lo {
			lo = x
		}
		if math.IsNaN(hi) || x > hi {
			hi = x
		}
	}
	return lo, hi
}

// printSummary writes the summaries as a Markdown table.
func printSummary(w io.Writer, ss []summary) {
	fmt.Fprintln(w, "| streams | agent | storm | runs | median ops/s | median cost | cost range | cost − auditd's, each run (points) | median agent CPU µs/op | median host CPU µs/op | host CPU − auditd's, each run (µs/op) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range ss {
		rng := "—"
		if !math.IsNaN(s.costMin) {
			rng = fmt.Sprintf("%.0f–%.0f%%", s.costMin, s.costMax)
		}
		fmt.Fprintf(w, "| %d | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", s.streams, s.agent, s.storm, s.runs,
			num(s.rate, "%.0f"), num(s.cost, "%.0f%%"), rng, signed(s.vsAuditd), num(s.cpu, "%.0f"), num(s.host, "%.0f"), signed(s.hostVsAuditd))
	}
}

// signed lists xs as signed integers, "—" when empty.
func signed(xs []float64) string {
	if len(xs) == 0 {
		return "—"
	}
	var b strings.Builder
	for i, d := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%+.0f", d)
	}
	return b.String()
}
