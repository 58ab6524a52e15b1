package outputs

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// The hand-written encoder must give encoding/json's bytes on toFalco.
func checkSameJSON(t *testing.T, a *event.Alert) {
	t.Helper()
	want, wantErr := json.Marshal(toFalco(a, true))
	got, err := AppendJSON([]byte("prefix"), a)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("error %v, encoding/json's %v (alert %+v)", err, wantErr, a)
	}
	if err != nil {
		if string(got) != "prefix" {
			t.Fatalf("a failed encoding left %q after the prefix", got)
		}
		return
	}
	if string(got) != "prefix"+string(want) {
		t.Fatalf("got  %s\nwant prefix%s", got, want)
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	a := testAlert()
	checkSameJSON(t, &a)
	checkSameJSON(t, &event.Alert{Time: time.Unix(0, 0)}) // nil tags and fields, no source
	odd := "a<b>&c\"d\\e\x00\x01\b\f\n\r\t\x1f\x7f é\xff\xfe\u2028\u2029 \U0001F600 \xe2\x82"
	b := event.Alert{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)), Rule: odd, Priority: event.PriorityDebug,
		Output: odd, Source: "x", Tags: []string{odd, ""}, Hostname: odd, Suppressed: 7,
		OutputFields: map[string]any{
			odd: odd, "b": true, "i": -42, "i64": int64(1 << 40), "i32": int32(-3), "u64": uint64(1 << 63), "u32": uint32(7),
			"nil": nil, "ss": []string{"x", odd}, "ssnil": []string(nil), "f": 1.5e-7, "big": 1e21, "m": map[string]string{"z": "1", "a": "<"},
			"any": []any{1, "x", nil}, "time": time.Unix(5, 0).UTC(),
		},
	}
	checkSameJSON(t, &b)
	bad := event.Alert{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	checkSameJSON(t, &bad)
	unsupported := event.Alert{Time: time.Unix(0, 0), OutputFields: map[string]any{"c": make(chan int)}}
	checkSameJSON(t, &unsupported)

	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "<", ">", "&", "\"", "\\", "\x00", "\n", "\x7f", "é", "\xff", "\u2028", "😀", "\xe2\x82", " ", "%"}
	str := func() string {
		var sb strings.Builder
		for range rng.IntN(12) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return sb.String()
	}
	for range 2000 {
		a := event.Alert{Time: time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)), Rule: str(), Output: str(), Hostname: str(),
			Priority: event.Priority(rng.IntN(8)), Suppressed: uint64(rng.IntN(3))}
		if rng.IntN(2) == 0 {
			a.Source = str()
		}
		for range rng.IntN(3) {
			a.Tags = append(a.Tags, str())
		}
		if rng.IntN(4) > 0 {
			a.OutputFields = map[string]any{}
			for range rng.IntN(8) {
				switch rng.IntN(4) {
				case 0:
					a.OutputFields[str()] = str()
				case 1:
					a.OutputFields[str()] = rng.IntN(100000) - 50000
				case 2:
					a.OutputFields[str()] = nil
				default:
					a.OutputFields[str()] = []string{str(), str()}
				}
			}
		}
		checkSameJSON(t, &a)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("rule", "out <x> & \"y\"", "host", "k", "v", int64(1700000000123456789))
	f.Add("\xff", "\u2028", "\x00", "\xe2\x82", "é", int64(0))
	f.Fuzz(func(t *testing.T, rule, output, host, key, val string, ns int64) {
		a := event.Alert{Time: time.Unix(0, ns), Rule: rule, Output: output, Hostname: host,
			OutputFields: map[string]any{key: val, key + "n": len(val)}, Tags: []string{val}}
		checkSameJSON(t, &a)
	})
}
