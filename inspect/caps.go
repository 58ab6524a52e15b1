package inspect

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"

	"github.com/ruled/ruled/sources/enrichers/procfs"
)

// CapEffective returns the names of the CapEff mask of a /proc/PID/status
// file; a bit the table does not know is named CAP_<n>.
func CapEffective(status []byte) []string {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "CapEff" {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return nil
		}
		names := []string{}
		for i := range 64 {
			if mask&(1<<i) != 0 {
				names = append(names, procfs.CapName(i))
			}
		}
		return names
	}
	return nil
}
