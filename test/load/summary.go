package main

import (
	"fmt"
	"io"
	"math"
	"slices"
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
	// vsAuditd are the run's cost minus auditd's in the same run (points),
	// sorted; empty for auditd itself or without auditd rows.
	vsAuditd []float64
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
	auditd := map[runKey]float64{}
	for _, r := range rows {
		if r.agent == agentAuditd && !math.IsNaN(r.cost) {
			auditd[runKey{r.run, r.streams, r.storm}] = r.cost
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
		var rates, costs, cpus []float64
		for _, r := range g {
			rates = append(rates, r.rate)
			costs = append(costs, r.cost)
			cpus = append(cpus, r.cpuPerOp)
			if a, ok := auditd[runKey{r.run, r.streams, r.storm}]; ok && k.agent != agentAuditd && !math.IsNaN(r.cost) {
				s.vsAuditd = append(s.vsAuditd, r.cost-a)
			}
		}
		slices.Sort(s.vsAuditd)
		s.rate, s.cost, s.cpu = median(rates), median(costs), median(cpus)
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
	fmt.Fprintln(w, "| streams | agent | storm | runs | median ops/s | median cost | cost range | median agent CPU µs/op | cost − auditd's, each run (points) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, s := range ss {
		vs := "—"
		if len(s.vsAuditd) > 0 {
			vs = ""
			for i, d := range s.vsAuditd {
				if i > 0 {
					vs += ", "
				}
				vs += fmt.Sprintf("%+.0f", d)
			}
		}
		rng := "—"
		if !math.IsNaN(s.costMin) {
			rng = fmt.Sprintf("%.0f–%.0f%%", s.costMin, s.costMax)
		}
		fmt.Fprintf(w, "| %d | %s | %s | %d | %s | %s | %s | %s | %s |\n", s.streams, s.agent, s.storm, s.runs,
			num(s.rate, "%.0f"), num(s.cost, "%.0f%%"), rng, num(s.cpu, "%.0f"), vs)
	}
}
