package audit

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ruled/ruled/sources/event"
)

// Synthetic records for encodings the capture does not hold: hex-encoded
// exe/cwd/name with spaces, several keys, abstract unix sockets, openat
// relative to a directory fd, execveat.
func TestNormalizeEncodings(t *testing.T) {
	sys := func(body string) Record {
		return Record{Type: TypeSyscall, Data: []byte("audit(1700000000.500:7): " + body)}
	}
	rec := func(typ uint16, body string) Record {
		return Record{Type: typ, Data: []byte("audit(1700000000.500:7): " + body)}
	}
	tests := []struct {
		name string
		recs []Record
		want func(ev *event.Event) any
		val  any
	}{
		{
			name: "hex exe and cwd with spaces, two keys, tty",
			recs: []Record{
				sys(`arch=c000003e syscall=322 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=1 ppid=1 pid=2 auid=1000 uid=1000 gid=1000 euid=0 tty=pts0 comm="my prog" exe=2F746D702F6D792070726F67 key=6578656301737573`),
				rec(TypeCwd, `cwd=2F746D702F612062`),
				rec(TypeExecve, `argc=1 a0="x"`),
			},
			want: func(ev *event.Event) any {
				return []any{ev.Evt.Type, ev.Evt.Syscall, ev.Proc.Exe, ev.Proc.Cwd, ev.Evt.Keys, ev.Proc.TTY, ev.Proc.AUID, ev.Proc.EUID}
			},
			val: []any{"execve", "execveat", "/tmp/my prog", "/tmp/a b", []string{"exec", "sus"}, true, 1000, 0},
		},
		{
			name: "abstract unix socket",
			recs: []Record{
				sys(`arch=c000003e syscall=42 success=no exit=-111 a0=3 items=0 pid=2 key="net"`),
				rec(TypeSockaddr, `saddr=0100006162630000`),
			},
			want: func(ev *event.Event) any { return []any{ev.FD.Type, ev.FD.Name, ev.Evt.Success, ev.Evt.Res} },
			val:  []any{"unix", "@abc", false, -111},
		},
		{
			name: "openat relative to a directory fd stays relative",
			recs: []Record{
				sys(`arch=c000003e syscall=257 success=yes exit=4 a0=3 a1=0 a2=241 a3=1b6 items=1 pid=2`),
				rec(TypeCwd, `cwd="/root"`),
				rec(TypePath, `item=0 name="f.txt" nametype=CREATE`),
			},
			want: func(ev *event.Event) any { return []any{ev.File.Path, ev.File.Write} },
			val:  []any{"f.txt", true},
		},
		{
			name: "openat AT_FDCWD read-only resolves against cwd",
			recs: []Record{
				sys(`arch=c000003e syscall=257 success=yes exit=4 a0=ffffff9c a1=0 a2=0 a3=0 items=1 pid=2`),
				rec(TypeCwd, `cwd="/etc"`),
				rec(TypePath, `item=0 name="../etc/./shadow" nametype=NORMAL`),
			},
			want: func(ev *event.Event) any { return []any{ev.File.Path, ev.File.Write} },
			val:  []any{"/etc/shadow", false},
		},
		{
			name: "i386 execve",
			recs: []Record{sys(`arch=40000003 syscall=11 success=yes exit=0 pid=2`)},
			want: func(ev *event.Event) any { return []any{ev.Evt.Type, ev.Evt.Syscall} },
			val:  []any{"execve", "execve"},
		},
		{
			name: "proctitle fills args of non-exec events",
			recs: []Record{
				sys(`arch=c000003e syscall=42 success=yes exit=0 pid=2`),
				rec(TypeProctitle, `proctitle=6E63002D7A00313237`),
			},
			want: func(ev *event.Event) any { return []any{ev.Proc.Args, ev.Proc.Cmdline} },
			val:  []any{[]string{"nc", "-z", "127"}, "nc -z 127"},
		},
		{
			name: "unknown syscall keeps its name as type",
			recs: []Record{sys(`arch=c000003e syscall=92 success=yes exit=0 pid=2`)},
			want: func(ev *event.Event) any { return []any{ev.Evt.Type, ev.Evt.Syscall} },
			val:  []any{"chown", "chown"},
		},
		{
			name: "bind fills the local end",
			recs: []Record{
				sys(`arch=c000003e syscall=49 success=yes exit=0 pid=2`),
				rec(TypeSockaddr, `saddr=0A001F90000000000000000000000000000000000000000100000000`),
			},
			want: func(ev *event.Event) any { return []any{ev.FD.Type, ev.FD.SIP, ev.FD.SPort, ev.FD.RIP} },
			val:  []any{"ipv6", "::1", 8080, ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Normalize(tt.recs, event.SourceAudit)
			if ev == nil {
				t.Fatal("nil event")
			}
			if diff := cmp.Diff(tt.val, tt.want(ev)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if Normalize([]Record{{Type: TypeCwd, Data: []byte(`audit(1.000:1): cwd="/"`)}}, "audit") != nil {
		t.Error("group without SYSCALL gave an event")
	}
}
