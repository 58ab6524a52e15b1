package procconn

import (
	"os"
	"testing"

	"github.com/ruled/ruled/sources/sensors/procconn"
)

// TestMain lets this test binary serve as the sources' exec reader
// process (procconn.Config.ExecReader), as the agent's binary does.
func TestMain(m *testing.M) {
	procconn.ServeExecReader()
	os.Exit(m.Run())
}
