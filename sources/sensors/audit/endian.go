package audit

import "encoding/binary"

// nativeEndian is the byte order of netlink headers (host order).
var nativeEndian = binary.NativeEndian
