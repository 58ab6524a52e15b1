package procconn

import "github.com/ruled/ruled/sources/sensors/internal/mmsg"

// recvBatch is how many datagrams one recvmmsg call may return. The
// kernel sends each proc connector event as a datagram of its own (a
// fork+exec+exit is three), so a drain of the socket is one call instead
// of one recvfrom per event and one more for the EAGAIN that ends it.
const recvBatch = 32

// recvBufLen holds any proc connector datagram (the largest event is
// under 100 bytes); a longer one is cut and counted as malformed.
const recvBufLen = 1024

// newBatchReader receives the socket's datagrams many at a time (package
// mmsg). Its raw receive does not block with MSG_DONTWAIT, and the
// real-time thread (when the main reader runs on it) keeps its P.
func newBatchReader(fd int) *mmsg.Reader { return mmsg.New(fd, recvBatch, recvBufLen) }
