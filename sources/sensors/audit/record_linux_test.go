package audit

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// TestRecordFixture captures real records from this kernel into
// testdata/capture.log while running the triggers below. It runs only with
// RULED_RECORD=1 as root (it installs audit rules and becomes the audit
// daemon); the committed fixture is what the unit tests read.
func TestRecordFixture(t *testing.T) {
	if os.Getenv("RULED_RECORD") != "1" || os.Geteuid() != 0 {
		t.Skip("set RULED_RECORD=1 and run as root to record testdata/capture.log")
	}
	src, err := New(Config{Mode: ModeUnicast}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	src.tap = func(typ uint16, data []byte) {
		mu.Lock()
		lines = append(lines, FormatLogLine(Record{Type: typ, Data: data}))
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func(*event.Event) {}) }()
	time.Sleep(500 * time.Millisecond)

	long := strings.Repeat("x", 9000)
	script := `
set +e
/bin/echo one "two words" "ünïcode" 'tab	here' ` + long + ` > /dev/null
perl -MSocket -e 'socket(S,PF_INET,SOCK_STREAM,0); bind(S,sockaddr_in(0,INADDR_LOOPBACK)); listen(S,5); my ($p)=sockaddr_in(getsockname(S)); if(fork()==0){socket(C,PF_INET,SOCK_STREAM,0); connect(C,sockaddr_in($p,INADDR_LOOPBACK)); exit 0} accept(N,S); wait;'
perl -MSocket=:all -e 'socket(S,PF_INET6,SOCK_STREAM,0) or die; connect(S,pack_sockaddr_in6(1,inet_pton(AF_INET6,"::1")));'
perl -MSocket -e 'socket(S,PF_UNIX,SOCK_STREAM,0); connect(S,pack_sockaddr_un("/run/ruled-test-missing.sock"));'
perl -MSocket -e 'socket(S,PF_INET,SOCK_STREAM,0); connect(S,sockaddr_in(1,INADDR_LOOPBACK));'
cd /etc && sh -c 'echo x > ruled-fixture.tmp'
mv /etc/ruled-fixture.tmp /etc/ruled-fixture.tmp2
chmod 600 /etc/ruled-fixture.tmp2
rm -f /etc/ruled-fixture.tmp2
sh -c ': > /etc/ruled-missing-dir/x' 2>/dev/null
cat /etc/shadow > /dev/null
perl -e 'my $n="ruled-memfd"; syscall(319, $n, 0)'
touch /tmp/ruled-fixture-x && chmod 755 /tmp/ruled-fixture-x && rm -f /tmp/ruled-fixture-x
setpriv --reuid=65534 --regid=65534 --clear-groups true
perl -e 'syscall(101, 0, 0, 0, 0)'
unshare -n true
nsenter -t $$ -n true
unshare -m sh -c 'mount -t tmpfs none /mnt && umount /mnt'
`
	cmd := exec.Command("/bin/bash", "-c", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("trigger script: %v\n%s", err, out)
	}
	time.Sleep(time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if err := os.WriteFile("testdata/capture.log", []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d records; stats %+v", len(lines), src.Stats())
}
