package outputs

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSyslogUnixDatagramAndStream(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		network string
		read    func(t *testing.T, path string) <-chan string
	}{
		{"datagram", "unixgram", func(t *testing.T, path string) <-chan string {
			c, err := net.ListenPacket("unixgram", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			ch := make(chan string, 4)
			go func() {
				buf := make([]byte, 65536)
				for {
					n, _, err := c.ReadFrom(buf)
					if err != nil {
						return
					}
					ch <- string(buf[:n])
				}
			}()
			return ch
		}},
		{"stream fallback, newline framed", "unix", func(t *testing.T, path string) <-chan string {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			ch := make(chan string, 4)
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					ch <- sc.Text()
				}
			}()
			return ch
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.network+".sock")
			msgs := tt.read(t, path)
			s := newTestStage(t, []string{"syslog://unix" + path + "?facility=daemon"}, StageOptions{})
			stop := runStage(t, s)
			s.Send(testAlert())
			s.Send(testAlert())
			for range 2 {
				select {
				case m := <-msgs:
					if !strings.HasPrefix(m, "<26>1 2026-11-22T12:00:00.123456Z node1 ruled ") || strings.Contains(m, "\n") {
						t.Errorf("message %q", m)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("no message; stats %+v", statsOf(s, 0))
				}
			}
			stop()
		})
	}
}
