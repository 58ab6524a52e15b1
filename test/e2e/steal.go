package e2e

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Steal: on a virtual machine, the share of its CPU time the hypervisor
// gave to something else. A storm measured while much of it was taken says
// more about the machine than about the agent (the load harness's steal
// column; tests that judge what an agent keeps up with under a storm).

// CPUStat is the machine's CPU time and the part of it its hypervisor
// stole, from /proc/stat.
type CPUStat struct {
	total, steal uint64
	err          error
}

// ReadCPUStat reads it now.
func ReadCPUStat() CPUStat {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return CPUStat{err: err}
	}
	defer f.Close()
	var c CPUStat
	c.total, c.steal, c.err = ParseCPUStat(f)
	return c
}

// StealSince returns the % of the CPU time since before that the
// hypervisor stole, or NaN when /proc/stat could not tell.
func StealSince(before CPUStat) float64 {
	after := ReadCPUStat()
	if before.err != nil || after.err != nil || after.total <= before.total {
		return math.NaN()
	}
	return float64(after.steal-before.steal) / float64(after.total-before.total) * 100
}

// ParseCPUStat returns the sum of the "cpu" line's fields (ticks since
// boot, every kind of time) and its eighth, steal: time a virtual CPU was
// ready to run while its hypervisor ran something else. guest and
// guest_nice are already counted in user and nice, so they are not added.
func ParseCPUStat(r io.Reader) (total, steal uint64, err error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return 0, 0, fmt.Errorf("/proc/stat: %w", err)
	}
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: first line %q is not the cpu total with a steal field", strings.TrimSpace(line))
	}
	for i, v := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: cpu field %d %q: %w", i+1, v, err)
		}
		total += n
		if i == 7 {
			steal = n
		}
	}
	return total, steal, nil
}
