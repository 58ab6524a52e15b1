package outputs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// sdID names ruled's RFC 5424 structured data element. 32473 is the private
// enterprise number RFC 5612 reserves for documentation and examples.
const sdID = "ruled@32473"

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// facilityCode maps a facility name ("" is local0) to its number.
func facilityCode(name string) (int, error) {
	if name == "" {
		return facilities["local0"], nil
	}
	c, ok := facilities[strings.ToLower(name)]
	if !ok {
		return 0, fmt.Errorf("unknown syslog facility %q (want kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0..local7)", name)
	}
	return c, nil
}

// checkAppName enforces RFC 5424's APP-NAME: 1-48 printable ASCII, no space.
func checkAppName(s string) error {
	if len(s) > 48 {
		return fmt.Errorf("app_name %q: longer than 48 characters", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return fmt.Errorf("app_name %q: only printable ASCII without spaces", s)
		}
	}
	return nil
}

// RFC5424 holds the header fields that are the same for every message.
type RFC5424 struct {
	Facility int    // 0..23
	Hostname string // "-" when empty
	AppName  string // "-" when empty
	ProcID   string // "-" when empty
}

// Append appends one RFC 5424 message for a:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID alert [ruled@32473 rule=".." priority=".." ...] MSG
//
// PRI is facility*8 + the alert's priority, since Falco priorities are syslog
// severities. The timestamp has microseconds (RFC 5424's maximum precision);
// MSG is "PRIORITY RULE: OUTPUT" on one line, control characters escaped.
func (h RFC5424) Append(dst []byte, a *event.Alert) []byte {
	sev := int(a.Priority)
	if sev < 0 || sev > 7 {
		sev = int(event.PriorityNotice)
	}
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(h.Facility*8+sev), 10)
	dst = append(dst, ">1 "...)
	if a.Time.IsZero() {
		dst = append(dst, '-')
	} else {
		dst = a.Time.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	}
	dst = append(dst, ' ')
	host := h.Hostname
	if a.Hostname != "" {
		host = a.Hostname
	}
	dst = appendHeaderField(dst, host, 255)
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, h.AppName, 48)
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, h.ProcID, 128)
	dst = append(dst, " alert ["...)
	dst = append(dst, sdID...)
	dst = appendParam(dst, "rule", a.Rule)
	dst = appendParam(dst, "priority", a.Priority.String())
	for _, k := range sdFields {
		if v, ok := a.OutputFields[k]; ok && v != nil {
			dst = appendParam(dst, strings.ReplaceAll(k, ".", "_"), event.FormatValue(v))
		}
	}
	if len(a.Tags) > 0 {
		dst = appendParam(dst, "tags", strings.Join(a.Tags, ","))
	}
	if a.Suppressed > 0 {
		dst = appendParam(dst, "suppressed", strconv.FormatUint(a.Suppressed, 10))
	}
	dst = append(dst, "] "...)
	dst = append(dst, a.Priority.String()...)
	dst = append(dst, ' ')
	dst = event.AppendEscaped(dst, a.Rule)
	dst = append(dst, ": "...)
	return event.AppendEscaped(dst, a.Output)
}

// sdFields are the output fields copied into structured data, so a syslog
// server can filter on them without parsing MSG.
var sdFields = []string{"container.id", "container.name", "proc.name", "proc.pid", "evt.type"}

// appendHeaderField writes a header field as RFC 5424 allows: printable
// US-ASCII without spaces, at most max bytes, "-" when empty.
func appendHeaderField(dst []byte, s string, max int) []byte {
	if s == "" {
		return append(dst, '-')
	}
	n := 0
	for i := 0; i < len(s) && n < max; i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		dst = append(dst, c)
		n++
	}
	return dst
}

// appendParam writes ` name="value"`, escaping '"', '\' and ']' in the value
// (RFC 5424 section 6.3.3) and making control characters visible
// (event.AppendEscaped: a receiver reads "\x1b" back as those four
// characters, since RFC 5424 keeps a backslash before any other character);
// names are ASCII without '=', ' ', ']', '"'.
func appendParam(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	for {
		i := strings.IndexAny(value, `"\]`)
		if i < 0 {
			break
		}
		dst = event.AppendEscaped(dst, value[:i])
		dst = append(dst, '\\', value[i])
		value = value[i+1:]
	}
	dst = event.AppendEscaped(dst, value)
	return append(dst, '"')
}

// syslogSink sends to a syslog daemon. The connection is made on first use
// and dropped on any error, so the stage's retry reconnects.
type syslogSink struct {
	network string // unix, udp, tcp
	addr    string
	header  RFC5424
	timeout time.Duration

	conn net.Conn
	// stream: unix stream socket (newline framing) or TCP (octet counting,
	// RFC 6587); datagram sockets carry one message each.
	stream bool
	buf    []byte
	msg    []byte
}

func newSyslogSink(sp Spec, host string, timeout time.Duration) (*syslogSink, error) {
	fac, err := facilityCode(sp.Facility)
	if err != nil {
		return nil, err
	}
	app := sp.AppName
	if app == "" {
		app = "ruled"
	}
	return &syslogSink{
		network: sp.Network,
		addr:    sp.Address,
		header:  RFC5424{Facility: fac, Hostname: host, AppName: app, ProcID: strconv.Itoa(os.Getpid())},
		timeout: timeout,
	}, nil
}

func (s *syslogSink) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: s.timeout}
	switch s.network {
	case "unix":
		c, err := d.DialContext(ctx, "unixgram", s.addr)
		if err != nil && errors.Is(err, syscall.EPROTOTYPE) {
			// The socket is a stream socket (syslog-ng's unix-stream).
			c, err = d.DialContext(ctx, "unix", s.addr)
			s.stream = err == nil
		}
		if err != nil {
			return fmt.Errorf("dial syslog %s: %w", s.addr, err)
		}
		s.conn = c
	case "udp", "tcp":
		c, err := d.DialContext(ctx, s.network, s.addr)
		if err != nil {
			return fmt.Errorf("dial syslog %s/%s: %w", s.network, s.addr, err)
		}
		s.conn = c
		s.stream = s.network == "tcp"
	default:
		return &permanentError{fmt.Errorf("unknown syslog network %q", s.network)}
	}
	return nil
}

func (s *syslogSink) write(ctx context.Context, batch []event.Alert) (int, error) {
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return 0, err
		}
	}
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = s.conn.SetWriteDeadline(deadline)
	// A cancelled drain must not wait out a blocked write.
	stop := context.AfterFunc(ctx, func() { _ = s.conn.SetWriteDeadline(time.Now()) })
	defer stop()
	for i := range batch {
		s.msg = s.header.Append(s.msg[:0], &batch[i])
		msg := s.msg
		s.buf = s.buf[:0]
		switch {
		case s.network == "tcp":
			s.buf = strconv.AppendInt(s.buf, int64(len(msg)), 10)
			s.buf = append(s.buf, ' ')
			s.buf = append(s.buf, msg...)
		case s.stream:
			s.buf = append(s.buf, msg...)
			s.buf = append(s.buf, '\n')
		default:
			s.buf = append(s.buf, msg...)
		}
		if _, err := s.conn.Write(s.buf); err != nil {
			if errors.Is(err, syscall.EMSGSIZE) {
				// Too big for one datagram: a retry cannot help.
				return i, &permanentError{fmt.Errorf("send syslog %s/%s: message of %d bytes: %w", s.network, s.addr, len(s.buf), err)}
			}
			s.conn.Close()
			s.conn = nil
			return i, fmt.Errorf("send syslog %s/%s: %w", s.network, s.addr, err)
		}
	}
	return len(batch), nil
}

func (s *syslogSink) close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
