package event

import (
	"log/slog"
	"unicode/utf8"
)

// Event fields carry whatever a watched process chose (argv, comm, file
// names): a command line holding "\x1b[2J" would repaint an operator's
// terminal or hide text in a SIEM if a human-readable output copied it raw.
// The functions below render C0 controls, DEL, C1 controls and bytes that
// are not UTF-8 as visible escapes; everything else, backslashes included,
// passes through unchanged so paths and command lines stay readable.

const hexDigits = "0123456789abcdef"

// needsEscape reports whether s holds a byte or rune AppendEscaped rewrites.
func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r >= 0x80 && r <= 0x9f {
			return true
		}
		i += n
	}
	return false
}

// AppendEscaped appends s to dst with control characters made visible:
// \n, \r and \t as such, other C0 controls, DEL and bytes that are not
// UTF-8 as \xHH, and C1 controls (U+0080-U+009F) as \u00HH.
func AppendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\n':
				dst = append(dst, `\n`...)
			case c == '\r':
				dst = append(dst, `\r`...)
			case c == '\t':
				dst = append(dst, `\t`...)
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		case r >= 0x80 && r <= 0x9f:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}

// Escape returns s with control characters made visible (see
// AppendEscaped); s itself, without allocating, when it has none.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	return string(AppendEscaped(make([]byte, 0, len(s)+16), s))
}

// EscapeLogAttr is a slog ReplaceAttr function for the text handlers that
// print log lines: slog quotes most control characters itself but writes
// DEL raw, and a value may come from an event field or an error that names
// one. String, error and Stringer values are escaped; other kinds pass.
func EscapeLogAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); needsEscape(s) {
			a.Value = slog.StringValue(Escape(s))
		}
	case slog.KindAny:
		var s string
		switch v := a.Value.Any().(type) {
		case error:
			s = v.Error()
		case interface{ String() string }:
			s = v.String()
		default:
			return a
		}
		if needsEscape(s) {
			a.Value = slog.StringValue(Escape(s))
		}
	}
	return a
}
