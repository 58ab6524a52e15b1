package procfs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Stat
		wantErr bool
	}{
		{
			name: "kernel thread",
			in:   "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 24 0 0 18446744073709551615 0\n",
			want: Stat{PID: 2, Comm: "kthreadd", State: 'S', StartTime: 24},
		},
		{
			name: "comm with spaces and parens",
			in:   "77 (a) b (c)) R 5 77 70 34817 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 999 0\n",
			want: Stat{PID: 77, Comm: "a) b (c)", State: 'R', PPID: 5, PGRP: 77, SID: 70, TTYNr: 34817, StartTime: 999},
		},
		{name: "empty", in: "", wantErr: true},
		{name: "no comm", in: "12 sh S 1", wantErr: true},
		{name: "truncated", in: "12 (sh) S 1 12 12 0", wantErr: true},
		{name: "bad ppid", in: "12 (sh) S x 12 12 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0", wantErr: true},
		{name: "bad state", in: "12 (sh) SS 1 12 12 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat(strings.NewReader(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
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

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Status
		wantErr bool
	}{
		{
			name: "container process",
			in:   "Name:\tsleep\nTgid:\t10\nPid:\t10\nPPid:\t3\nUid:\t1000\t0\t0\t0\nGid:\t5\t6\t6\t6\nNSpid:\t10\t1\n",
			want: Status{Name: "sleep", TGID: 10, PID: 10, PPID: 3, UID: 1000, EUID: 0, GID: 5, EGID: 6, NSpid: []int{10, 1}, HasNSpid: true, HasUIDLine: true},
		},
		{
			name: "no NSpid (old kernel)",
			in:   "Name:\tx\nPid:\t4\nUid:\t0\t0\t0\t0\n",
			want: Status{Name: "x", PID: 4, HasUIDLine: true},
		},
		{
			name: "capabilities (Docker's default set)",
			in:   "Uid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n",
			want: Status{HasUIDLine: true, CapPrm: 0xa80425fb, CapEff: 0xa80425fb},
		},
		{name: "bad CapEff", in: "Uid:\t0\t0\nCapEff:\tzz\n", wantErr: true},
		{name: "no Uid", in: "Name:\tx\nPid:\t4\n", wantErr: true},
		{name: "short Uid", in: "Uid:\t0\n", wantErr: true},
		{name: "bad NSpid", in: "Uid:\t0\t0\nNSpid:\t1\tz\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatus(strings.NewReader(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "argv", in: "/bin/sh\x00-c\x00sleep 5; echo x y\x00", want: []string{"/bin/sh", "-c", "sleep 5; echo x y"}},
		{name: "empty (kernel thread)", in: "", want: nil},
		{name: "setproctitle", in: "nginx: worker process", want: []string{"nginx: worker process"}},
		{name: "empty arg inside", in: "a\x00\x00b\x00", want: []string{"a", "", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseCmdline([]byte(tt.in)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q want %q", got, tt.want)
			}
		})
	}
}

func TestClassifyFD(t *testing.T) {
	tests := []struct {
		target string
		want   Stdio
	}{
		{"socket:[15835]", Stdio{Type: "socket", Name: "socket:[15835]", Inode: 15835}},
		{"pipe:[16771]", Stdio{Type: "pipe", Name: "pipe:[16771]", Inode: 16771}},
		{"/dev/pts/3", Stdio{Type: "tty", Name: "/dev/pts/3"}},
		{"/dev/tty1", Stdio{Type: "tty", Name: "/dev/tty1"}},
		{"/dev/console", Stdio{Type: "tty", Name: "/dev/console"}},
		{"/dev/null", Stdio{Type: "none", Name: "/dev/null"}},
		{"/var/log/app.log", Stdio{Type: "file", Name: "/var/log/app.log"}},
		{"anon_inode:[eventfd]", Stdio{Type: "file", Name: "anon_inode:[eventfd]"}},
		{"socket:[bad]", Stdio{Type: "socket", Name: "socket:[bad]"}},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			if got := ClassifyFD(tt.target); got != tt.want {
				t.Errorf("got %+v want %+v", got, tt.want)
			}
		})
	}
}

// TestReaderFixtures reads processes recorded from this kernel.
func TestReaderFixtures(t *testing.T) {
	r := New(os.DirFS("testdata/proc"))
	r.EnvMax = 4096
	tests := []struct {
		name string
		pid  int
		want Process
	}{
		{
			name: "host shell with pipe, socket, /dev/null",
			pid:  10176,
			want: Process{
				PID: 10176, PPID: 10135, TGID: 10176, SID: 5090, PGID: 10130, VPID: 10176, Comm: "sh", StartTime: 1090701,
				AUID: 4294967295, Exe: "/usr/bin/dash", Cwd: "/tmp", Args: []string{"/bin/sh", "-c", "sleep 5; echo x y"},
				Stdio: [3]Stdio{
					{Type: "pipe", Name: "pipe:[15836]", Inode: 15836},
					{Type: "socket", Name: "socket:[15835]", Inode: 15835},
					{Type: "none", Name: "/dev/null"},
				},
				NS:     NS{PID: 4026531836, Net: 4026531833, Mnt: 4026531832},
				CapEff: 0x1fffeffffff, CapPrm: 0x1fffeffffff,
			},
		},
		{
			name: "container process",
			pid:  10238,
			want: Process{
				PID: 10238, PPID: 10216, TGID: 10238, SID: 10238, PGID: 10238, VPID: 1, Comm: "sleep", StartTime: 1090758,
				AUID: 4294967295, Exe: "/bin/busybox", Cwd: "/", Args: []string{"sleep", "30"},
				Stdio: [3]Stdio{
					{Type: "none", Name: "/dev/null"},
					{Type: "pipe", Name: "pipe:[16771]", Inode: 16771},
					{Type: "pipe", Name: "pipe:[16772]", Inode: 16772},
				},
				NS:     NS{PID: 4026532181, Net: 4026532182, Mnt: 4026532178},
				CapEff: 0xa80425fb, CapPrm: 0xa80425fb,
				Env: []string{"PATH=/usr/bin:/bin", "HOME=/root"},
			},
		},
		{
			name: "kernel thread",
			pid:  2,
			want: Process{
				PID: 2, TGID: 2, VPID: 2, Comm: "kthreadd", StartTime: 24, Cwd: "/", AUID: 4294967295,
				NS:     NS{PID: 4026531836, Net: 4026531833, Mnt: 4026531832},
				CapEff: 0x1ffffffffff, CapPrm: 0x1ffffffffff,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Process(tt.pid)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	t.Run("gone", func(t *testing.T) {
		_, err := r.Process(999999)
		if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrGone) {
			t.Fatalf("err = %v, want ErrGone matching fs.ErrNotExist", err)
		}
	})
	t.Run("pids", func(t *testing.T) {
		got, err := r.PIDs()
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{10176, 10238, 2}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v want %v", got, want)
		}
	})
}

// TestReaderClosedFD uses a MapFS for what is hard to record: a process
// whose stdin is closed.
func TestReaderClosedFD(t *testing.T) {
	stat, _ := os.ReadFile("testdata/proc/10176/stat")
	status, _ := os.ReadFile("testdata/proc/10176/status")
	m := fstest.MapFS{
		"10176/stat":   {Data: stat},
		"10176/status": {Data: status},
		"10176/fd/1":   {Data: []byte("/dev/pts/0"), Mode: fs.ModeSymlink},
		"10176/fd/2":   {Data: []byte("/dev/pts/0"), Mode: fs.ModeSymlink},
	}
	got := New(m).StdioOf(10176)
	want := [3]Stdio{{Type: "none"}, {Type: "tty", Name: "/dev/pts/0"}, {Type: "tty", Name: "/dev/pts/0"}}
	if got != want {
		t.Errorf("got %+v want %+v", got, want)
	}
}

func FuzzParseStat(f *testing.F) {
	for _, p := range []string{"2", "10176", "10238"} {
		b, err := os.ReadFile("testdata/proc/" + p + "/stat")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStat(bytes.NewReader(b))
		if err == nil && s.State == 0 {
			t.Fatal("parsed without a state")
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	for _, p := range []string{"2", "10176", "10238"} {
		b, err := os.ReadFile("testdata/proc/" + p + "/status")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStatus(bytes.NewReader(b))
		if err == nil && !s.HasUIDLine {
			t.Fatal("parsed without Uid")
		}
		_ = s.VPID()
	})
}

func BenchmarkParseStat(b *testing.B) {
	in, err := os.ReadFile("testdata/proc/10176/stat")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseStat(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseStatus(b *testing.B) {
	in, err := os.ReadFile("testdata/proc/10176/status")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseStatus(in); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCapNames(t *testing.T) {
	got := CapNames(0xa80425fb)
	want := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
		"CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD",
		"CAP_AUDIT_WRITE", "CAP_SETFCAP"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CapNames(docker default) = %v\nwant %v", got, want)
	}
	if CapNames(0) != nil {
		t.Error("CapNames(0) is not nil")
	}
	if got := CapNames(1 << 50); !reflect.DeepEqual(got, []string{"CAP_50"}) {
		t.Errorf("unknown bit: %v", got)
	}
}

func TestParseEnviron(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want []string
	}{
		{"A=1\x00B=2\x00", 100, []string{"A=1", "B=2"}},
		{"", 100, nil},
		// The bound cuts B's value: B is dropped, not kept half.
		{"A=1\x00B=22222\x00", 6, []string{"A=1"}},
		{"AAAAAAAAAA=1\x00", 4, nil},
		// Exactly at the bound: nothing is cut.
		{"A=1\x00B=2\x00", 8, []string{"A=1", "B=2"}},
	}
	for _, tt := range tests {
		b := []byte(tt.in)
		if len(b) > tt.max+1 {
			b = b[:tt.max+1] // what Reader.env reads
		}
		if got := ParseEnviron(b, tt.max); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseEnviron(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}
