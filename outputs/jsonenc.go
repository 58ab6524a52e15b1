package outputs

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ruled/ruled/sources/event"
)

// appendFalcoJSON appends a as encoding/json encodes toFalco(a, true),
// byte for byte, without reflection or a copy of the output text: the
// file and json outputs encode every alert this way. A value of
// output_fields of a type other than those rules produce goes through
// encoding/json.
func appendFalcoJSON(dst []byte, a *event.Alert) ([]byte, error) {
	t := a.Time.UTC()
	if y := t.Year(); y < 0 || y >= 10000 {
		// What time.Time.MarshalJSON refuses.
		return dst, errors.New("alert time year outside of range [0,9999]")
	}
	start := len(dst)
	dst = append(dst, `{"hostname":`...)
	dst = appendJSONString(dst, a.Hostname)
	dst = append(dst, `,"output":"`...)
	var prefix [64]byte
	dst = appendJSONText(dst, appendFalcoPrefix(prefix[:0], a))
	dst = appendJSONText(dst, a.Output)
	dst = append(dst, `","priority":`...)
	dst = appendJSONString(dst, a.Priority.String())
	dst = append(dst, `,"rule":`...)
	dst = appendJSONString(dst, a.Rule)
	dst = append(dst, `,"source":`...)
	src := a.Source
	if src == "" {
		src = event.AlertSource
	}
	dst = appendJSONString(dst, src)
	dst = append(dst, `,"tags":[`...)
	for i, tag := range a.Tags {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, tag)
	}
	dst = append(dst, `],"time":"`...)
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","output_fields":{`...)
	var err error
	if dst, err = appendJSONFields(dst, a.OutputFields); err != nil {
		return dst[:start], err
	}
	dst = append(dst, '}')
	if a.Suppressed > 0 {
		dst = append(dst, `,"suppressed":`...)
		dst = strconv.AppendUint(dst, a.Suppressed, 10)
	}
	return append(dst, '}'), nil
}

// appendJSONFields appends the members of m in key order, as encoding/json
// sorts a map.
func appendJSONFields(dst []byte, m map[string]any) ([]byte, error) {
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendJSONValue(dst, m[k]); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func appendJSONValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendJSONString(dst, v), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case []string:
		if v == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, s)
		}
		return append(dst, ']'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONText(dst, s)
	return append(dst, '"')
}

// appendJSONText appends s escaped as encoding/json escapes a string
// (HTML-safe: <, > and & as \u003c, \u003e, \u0026; invalid UTF-8 as
// \ufffd; U+2028 and U+2029 escaped), without the quotes.
func appendJSONText[S []byte | string](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		n := min(len(s)-i, utf8.UTFMax)
		c, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
