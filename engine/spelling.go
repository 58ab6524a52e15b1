package engine

// falcoSpellings rewrites Falco's lowercase operator words to expr's, only
// outside string literals and only as whole words. Same-length rewrites
// keep expr's error columns pointing at what the author wrote.
var falcoSpellings = map[string]string{"startswith": "startsWith", "endswith": "endsWith"}

func rewriteSpellings(s string) string {
	var b []byte
	isWord := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.'
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\'' || c == '`' {
			// Skip the literal, honoring backslash escapes except in raw strings.
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			i = j
			continue
		}
		if c < 'a' || c > 'z' || (i > 0 && isWord(s[i-1])) {
			continue
		}
		j := i
		for j < len(s) && isWord(s[j]) {
			j++
		}
		if repl, ok := falcoSpellings[s[i:j]]; ok {
			if b == nil {
				b = []byte(s)
			}
			copy(b[i:j], repl)
		}
		i = j - 1
	}
	if b == nil {
		return s
	}
	return string(b)
}
