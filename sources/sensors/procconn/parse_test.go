package procconn

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// le32 and friends build native-endian fixtures so the table reads like the
// kernel structs.
func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// cnMsg prefixes body with a struct cn_msg for the proc connector.
func cnMsg(seq uint32, body []byte) []byte {
	return cat(
		u32(cnIdxProc), // id.idx
		u32(cnValProc), // id.val
		u32(seq),       // seq
		u32(0),         // ack
		binary.NativeEndian.AppendUint16(nil, uint16(len(body))), // len
		[]byte{0, 0}, // flags
		body,
	)
}

// procHdr is the proc_event header: what, cpu, timestamp_ns.
func procHdr(w What, cpu uint32, ts uint64) []byte { return cat(u32(uint32(w)), u32(cpu), u64(ts)) }

func TestParseProcEvent(t *testing.T) {
	comm := []byte("kworker/u4:2\x00\x00\x00\x00")
	tests := []struct {
		name    string
		in      []byte
		want    procEvent
		wantErr error
	}{
		{
			name: "fork",
			in: cnMsg(7, cat(procHdr(WhatFork, 1, 1000),
				u32(100), u32(100), // parent_pid, parent_tgid
				u32(200), u32(200), // child_pid, child_tgid
				make([]byte, 8))), // rest of the union
			want: procEvent{Seq: 7, What: WhatFork, CPU: 1, TimestampNS: 1000, ParentPID: 100, ParentTGID: 100, PID: 200, TGID: 200},
		},
		{
			name: "thread fork",
			in: cnMsg(8, cat(procHdr(WhatFork, 0, 5),
				u32(101), u32(100), // parent thread 101 of process 100
				u32(202), u32(100), // new thread 202 of process 100
			)),
			want: procEvent{Seq: 8, What: WhatFork, TimestampNS: 5, ParentPID: 101, ParentTGID: 100, PID: 202, TGID: 100},
		},
		{
			name: "exec",
			in:   cnMsg(1, cat(procHdr(WhatExec, 0, 9), u32(300), u32(300))),
			want: procEvent{Seq: 1, What: WhatExec, TimestampNS: 9, PID: 300, TGID: 300},
		},
		{
			name: "uid",
			in: cnMsg(2, cat(procHdr(WhatUID, 1, 3),
				u32(300), u32(300), // pid, tgid
				u32(1000), u32(0), // ruid, euid
			)),
			want: procEvent{Seq: 2, What: WhatUID, CPU: 1, TimestampNS: 3, PID: 300, TGID: 300, ID1: 1000, ID2: 0},
		},
		{
			name: "comm",
			in:   cnMsg(3, cat(procHdr(WhatComm, 0, 4), u32(42), u32(42), comm)),
			want: procEvent{Seq: 3, What: WhatComm, TimestampNS: 4, PID: 42, TGID: 42, Comm: [16]byte([]byte(comm))},
		},
		{
			name: "exit with signal",
			in: cnMsg(4, cat(procHdr(WhatExit, 1, 6),
				u32(300), u32(300), // pid, tgid
				u32(9), u32(17), // exit_code (killed by SIGKILL), exit_signal SIGCHLD
				u32(1), u32(1), // parent_pid, parent_tgid
			)),
			want: procEvent{Seq: 4, What: WhatExit, CPU: 1, TimestampNS: 6, PID: 300, TGID: 300, ExitCode: 9, ExitSignal: 17, ParentPID: 1, ParentTGID: 1},
		},
		{
			name: "ptrace",
			in:   cnMsg(5, cat(procHdr(WhatPtrace, 0, 1), u32(5), u32(5), u32(6), u32(6))),
			want: procEvent{Seq: 5, What: WhatPtrace, TimestampNS: 1, PID: 5, TGID: 5, TracerPID: 6, TracerTGID: 6},
		},
		{
			name: "ack",
			in:   cnMsg(0, cat(procHdr(WhatNone, 0, 0), u32(0))),
			want: procEvent{What: WhatNone},
		},
		{
			name: "unknown kind keeps header",
			in:   cnMsg(0, cat(procHdr(What(0x800), 0, 77))),
			want: procEvent{What: What(0x800), TimestampNS: 77},
		},
		{name: "empty", in: nil, wantErr: ErrShort},
		{name: "other connector", in: cat(u32(2), u32(1), make([]byte, 12)), wantErr: ErrNotProcCN},
		{
			name:    "len beyond data",
			in:      cnMsg(0, procHdr(WhatExec, 0, 0))[:cnMsgLen+8],
			wantErr: ErrShort,
		},
		{name: "exec body short", in: cnMsg(0, cat(procHdr(WhatExec, 0, 0), u32(1))), wantErr: ErrShort},
		{name: "exit body short", in: cnMsg(0, cat(procHdr(WhatExit, 0, 0), make([]byte, 20))), wantErr: ErrShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcEvent(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func readCapture(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "capture.hex"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		b, err := hex.DecodeString(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestCapture decodes messages recorded from this kernel (record with
// -record) and compares them and their events with a golden file.
func TestCapture(t *testing.T) {
	var sb strings.Builder
	boot := time.Unix(0, 0).UTC()
	for _, b := range readCapture(t) {
		p, err := parseProcEvent(b)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%-5s cpu=%d seq=%d pid=%d tgid=%d ppid=%d ptgid=%d code=%d sig=%d\n",
			p.What, p.CPU, p.Seq, p.PID, p.TGID, p.ParentPID, p.ParentTGID, p.ExitCode, p.ExitSignal)
		if ev := toEvent(&p, boot); ev != nil {
			fmt.Fprintf(&sb, "  -> %s pid=%d ppid=%d res=%d source=%s\n", ev.Evt.Type, ev.Proc.PID, ev.Proc.PPID, ev.Evt.Res, ev.Evt.Source)
		}
	}
	golden := filepath.Join("testdata", "capture.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if sb.String() != string(want) {
		t.Errorf("capture decodes differently (-update to accept)\ngot:\n%s\nwant:\n%s", sb.String(), want)
	}
}

func TestToEventFoldsThreads(t *testing.T) {
	boot := time.Unix(100, 0)
	tests := []struct {
		name     string
		p        procEvent
		wantType string // "" = no event
		wantPID  int
		wantPPID int
		wantRes  int
	}{
		{name: "process fork", p: procEvent{What: WhatFork, PID: 10, TGID: 10, ParentPID: 6, ParentTGID: 5}, wantType: "fork", wantPID: 10, wantPPID: 5},
		{name: "thread fork", p: procEvent{What: WhatFork, PID: 11, TGID: 10, ParentPID: 10, ParentTGID: 10}},
		{name: "exec from thread", p: procEvent{What: WhatExec, PID: 10, TGID: 10}, wantType: "execve", wantPID: 10},
		{name: "thread exit", p: procEvent{What: WhatExit, PID: 11, TGID: 10}},
		{name: "exit code", p: procEvent{What: WhatExit, PID: 10, TGID: 10, ExitCode: 3 << 8, ParentTGID: 5}, wantType: "exit", wantPID: 10, wantPPID: 5, wantRes: 3},
		{name: "killed", p: procEvent{What: WhatExit, PID: 10, TGID: 10, ExitCode: 9}, wantType: "exit", wantPID: 10, wantRes: -9},
		{name: "uid", p: procEvent{What: WhatUID, PID: 10, TGID: 10, ID1: 1, ID2: 2}, wantType: "setuid", wantPID: 10},
		{name: "thread uid", p: procEvent{What: WhatUID, PID: 11, TGID: 10}},
		{name: "comm", p: procEvent{What: WhatComm, PID: 10, TGID: 10}, wantType: "comm", wantPID: 10},
		{name: "gid not emitted", p: procEvent{What: WhatGID, PID: 10, TGID: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := toEvent(&tt.p, boot)
			if tt.wantType == "" {
				if ev != nil {
					t.Fatalf("got %s event, want none", ev.Evt.Type)
				}
				return
			}
			if ev == nil {
				t.Fatal("got no event")
			}
			if ev.Evt.Type != tt.wantType || ev.Proc.PID != tt.wantPID || ev.Proc.PPID != tt.wantPPID || ev.Evt.Res != tt.wantRes {
				t.Errorf("got type=%s pid=%d ppid=%d res=%d", ev.Evt.Type, ev.Proc.PID, ev.Proc.PPID, ev.Evt.Res)
			}
			if ev.Evt.Source != "procconn" {
				t.Errorf("source %q", ev.Evt.Source)
			}
		})
	}
}

func TestSeqTracker(t *testing.T) {
	var s seqTracker
	steps := []struct {
		cpu, seq uint32
		lost     uint64
	}{
		{0, 10, 0}, {0, 11, 0}, {1, 5, 0}, {0, 15, 3}, {1, 6, 0},
		{0, 0xffffffff, 0}, // far backwards: reordered, not lost... or wrap below
		{0, 0, 0},          // wrap-around without a gap
	}
	for i, st := range steps {
		if got := s.observe(st.cpu, st.seq); got != st.lost {
			t.Errorf("step %d (cpu %d seq %d): lost %d, want %d", i, st.cpu, st.seq, got, st.lost)
		}
	}
}

func FuzzParseProcEvent(f *testing.F) {
	for _, b := range readCapture(f) {
		f.Add(b)
	}
	f.Add(cnMsg(1, cat(procHdr(WhatComm, 0, 4), u32(42), u32(42), []byte("abcdefghijklmnop"))))
	boot := time.Unix(0, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseProcEvent(b)
		if err != nil {
			return
		}
		_ = p.CommString()
		_ = toEvent(&p, boot)
	})
}

func BenchmarkParseProcEvent(b *testing.B) {
	msgs := readCapture(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := parseProcEvent(msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func TestEachMessage(t *testing.T) {
	msg := func(payload string) []byte {
		b := make([]byte, 16, 16+len(payload)+3)
		binary.NativeEndian.PutUint32(b[0:4], uint32(16+len(payload))) // nlmsg_len
		binary.NativeEndian.PutUint16(b[4:6], 3)                       // NLMSG_DONE
		b = append(b, payload...)
		for len(b)%4 != 0 {
			b = append(b, 0) // NLMSG_ALIGN padding
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want []string
		bad  int
	}{
		{"one", msg("abcd"), []string{"abcd"}, 0},
		{"two, first padded", append(msg("abcde"), msg("xy")...), []string{"abcde", "xy"}, 0},
		{"length beyond the datagram", func() []byte { b := msg("abcd"); binary.NativeEndian.PutUint32(b, 99); return b }(), nil, 1},
		{"length below the header", func() []byte { b := msg("abcd"); binary.NativeEndian.PutUint32(b, 4); return b }(), nil, 1},
		{"short tail ignored", append(msg("ab"), 1, 2, 3), []string{"ab"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			bad := 0
			eachMessage(tt.in, func(p []byte) { got = append(got, string(p)) }, func() { bad++ })
			if !slices.Equal(got, tt.want) || bad != tt.bad {
				t.Errorf("got %q bad %d, want %q bad %d", got, bad, tt.want, tt.bad)
			}
		})
	}
}

// TestUnmarkHostExec: only an exec cut to the mark, its headers counting
// more, is one; its headers are then set to what is left and it parses.
func TestUnmarkHostExec(t *testing.T) {
	whole := func(w What) []byte {
		return cat(u32(uint32(nlmsgHdrLen+cnMsgLen+procHeaderLen+procPayloadMax)), u32(0), u32(0), u32(0),
			cnMsg(1, cat(procHdr(w, 0, 7), u32(10), u32(10), make([]byte, procPayloadMax-8))))
	}
	if b := whole(WhatExec); unmarkHostExec(b) {
		t.Error("a whole exec is not marked")
	}
	if b := whole(WhatFork)[:hostExecMarkLen]; unmarkHostExec(b) {
		t.Error("a cut fork is not a marked exec")
	}
	b := whole(WhatExec)[:hostExecMarkLen]
	if !unmarkHostExec(b) {
		t.Fatal("a cut exec is marked")
	}
	n := 0
	eachMessage(b, func(m []byte) {
		n++
		p, err := parseProcEvent(m)
		if err != nil || p.What != WhatExec || p.TGID != 10 || p.TimestampNS != 7 {
			t.Errorf("unmarked exec parses as %+v, %v", p, err)
		}
	}, func() { t.Error("unmarked exec: bad header") })
	if n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}
