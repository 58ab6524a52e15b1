package procconn

import (
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// TestReaderSpec: an exec reader's configuration survives its trip
// through the environment, and a malformed one is an error naming it.
func TestReaderSpec(t *testing.T) {
	for _, want := range []readerSpec{{cpu: -1}, {cpu: 3, hostMnt: 4026531841, cgroup: true}} {
		got, err := parseReaderSpec(want.String())
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", want.String(), got, err, want)
		}
	}
	for _, bad := range []string{"cpu", "cpu=x", "mnt=-1", "color=red"} {
		if _, err := parseReaderSpec(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}

// TestReaderProcAllocatesNothing: an exec reader process runs without a
// garbage collector, so turning an exec message into a record (reading
// /proc, here this process's entry) must allocate nothing once its buffer
// has grown.
func TestReaderProcAllocatesNothing(t *testing.T) {
	var flag atomic.Uint32
	flag.Store(1)
	p := readerProc{spec: readerSpec{hostMnt: 1, cgroup: true}, readExec: func() bool { return flag.Load() != 0 }}
	pid := uint32(os.Getpid())
	datagram := nlDatagram(cnMsg(1, cat(procHdr(WhatExec, 0, 9), u32(pid), u32(pid))))
	p.handle(datagram)
	if rec, n, err := nextRecord(p.w.b); err != nil || n != len(p.w.b) || rec.key.pid != int32(pid) || rec.exe == nil || rec.cgrp == nil {
		t.Fatalf("record of this process: %+v, %d of %d bytes, %v", rec, n, len(p.w.b), err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		p.w.b = p.w.b[:0]
		p.handle(datagram)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per exec message", allocs)
	}
}
