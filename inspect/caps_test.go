package inspect

import (
	"reflect"
	"testing"
)

func TestCapEffective(t *testing.T) {
	// Docker's default set.
	got := CapEffective([]byte("Name:\tsleep\nCapInh:\t0000000000000000\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n"))
	want := []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
		"NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if got := CapEffective([]byte("CapEff:\t0000010000000000\n")); !reflect.DeepEqual(got, []string{"CHECKPOINT_RESTORE"}) {
		t.Errorf("bit 40: %v", got)
	}
}
