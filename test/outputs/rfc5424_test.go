package outputs

import (
	"fmt"
	"strconv"
	"strings"
)

// message is an RFC 5424 message parsed back, to check what rsyslog stored.
type message struct {
	Pri                                      int
	Timestamp, Host, App, ProcID, MsgID, Msg string
	SD                                       map[string]map[string]string
}

// parseRFC5424 parses "<PRI>1 TS HOST APP PROCID MSGID SD [MSG]" strictly
// enough to tell a wrongly framed or escaped message.
func parseRFC5424(s string) (message, error) {
	var m message
	if !strings.HasPrefix(s, "<") {
		return m, fmt.Errorf("no PRI: %q", s)
	}
	end := strings.Index(s, ">")
	if end < 2 || end > 4 {
		return m, fmt.Errorf("bad PRI: %q", s)
	}
	pri, err := strconv.Atoi(s[1:end])
	if err != nil || pri > 191 {
		return m, fmt.Errorf("bad PRI %q", s[1:end])
	}
	m.Pri = pri
	rest := s[end+1:]
	fields := make([]string, 6)
	for i := range fields {
		sp := strings.IndexByte(rest, ' ')
		if sp < 0 {
			return m, fmt.Errorf("header field %d missing: %q", i, s)
		}
		fields[i], rest = rest[:sp], rest[sp+1:]
	}
	if fields[0] != "1" {
		return m, fmt.Errorf("version %q", fields[0])
	}
	m.Timestamp, m.Host, m.App, m.ProcID, m.MsgID = fields[1], fields[2], fields[3], fields[4], fields[5]
	m.SD = map[string]map[string]string{}
	if strings.HasPrefix(rest, "-") {
		rest = rest[1:]
	} else {
		for strings.HasPrefix(rest, "[") {
			rest = rest[1:]
			sp := strings.IndexAny(rest, " ]")
			if sp < 0 {
				return m, fmt.Errorf("unterminated SD: %q", s)
			}
			id := rest[:sp]
			rest = rest[sp:]
			params := map[string]string{}
			for strings.HasPrefix(rest, " ") {
				rest = rest[1:]
				eq := strings.Index(rest, `="`)
				if eq < 0 {
					return m, fmt.Errorf("bad SD param: %q", rest)
				}
				name := rest[:eq]
				rest = rest[eq+2:]
				var v strings.Builder
				i := 0
				for ; i < len(rest) && rest[i] != '"'; i++ {
					if rest[i] == '\\' && i+1 < len(rest) && strings.ContainsRune(`"\]`, rune(rest[i+1])) {
						i++
					} else if rest[i] == ']' {
						return m, fmt.Errorf("unescaped ] in SD value: %q", s)
					}
					v.WriteByte(rest[i])
				}
				if i == len(rest) {
					return m, fmt.Errorf("unterminated SD value: %q", s)
				}
				params[name] = v.String()
				rest = rest[i+1:]
			}
			if !strings.HasPrefix(rest, "]") {
				return m, fmt.Errorf("SD element not closed: %q", s)
			}
			rest = rest[1:]
			m.SD[id] = params
		}
	}
	m.Msg = strings.TrimPrefix(rest, " ")
	return m, nil
}
