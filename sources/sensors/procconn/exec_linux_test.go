package procconn

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExecReaderRead reads this process as the receive thread reads an
// exec: its executable, and from stat its name, session and terminal, as
// the kernel reports them elsewhere; a pid that does not exist reads
// nothing.
func TestExecReaderRead(t *testing.T) {
	var r execReader
	exe, st, ok := r.read(os.Getpid())
	if !ok {
		t.Fatal("stat of this process not read")
	}
	want, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	if exe != want || st.Comm != strings.TrimSuffix(string(comm), "\n") || st.SID != sid || st.PID != os.Getpid() {
		t.Errorf("read: exe %q comm %q sid %d pid %d; want %q %q %d %d", exe, st.Comm, st.SID, st.PID,
			want, strings.TrimSuffix(string(comm), "\n"), sid, os.Getpid())
	}
	if exe, st, ok := r.read(1 << 30); ok || exe != "" || st.Comm != "" {
		t.Errorf("pid that does not exist: exe %q stat %+v ok %v", exe, st, ok)
	}
}
