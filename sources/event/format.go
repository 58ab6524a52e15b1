package event

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// FormatValue renders a field value the way output templates print it:
// strings as is, lists joined by commas, maps as k=v pairs in key order,
// times in RFC 3339 with nanoseconds, and <NA> for an empty string as Falco
// does so a reader can tell "unknown" from a blank.
func FormatValue(v any) string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return "<NA>"
		}
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []string:
		return strings.Join(x, ",")
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(x[k])
		}
		return b.String()
	}
	return ""
}
