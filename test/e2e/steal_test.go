package e2e

import (
	"os"
	"strings"
	"testing"
)

func TestParseCPUStat(t *testing.T) {
	f, err := os.Open("testdata/proc-stat")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, steal, err := ParseCPUStat(f)
	if err != nil {
		t.Fatal(err)
	}
	// user nice system idle iowait irq softirq steal; guest and
	// guest_nice are part of user and nice already.
	if want := uint64(123202 + 0 + 59130 + 567224 + 1945 + 0 + 1347 + 11874); total != want || steal != 11874 {
		t.Errorf("total %d steal %d, want %d and 11874", total, steal, want)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2 3\n", "cpu 1 2 3 4 5 6 7 x 0 0\n"} {
		if _, _, err := ParseCPUStat(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
