//go:build linux

package inspect

import (
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ruled/ruled/sources/enrichers/netns"
)

// ReadLinks dumps the interfaces and addresses of the network namespace at
// nsPath ("/proc/PID/ns/net"; "" is the caller's own) over rtnetlink.
func ReadLinks(nsPath string) ([]Link, error) {
	var (
		c   *netlink.Conn
		err error
	)
	if nsPath == "" {
		c, err = netlink.Dial(unix.NETLINK_ROUTE, nil)
	} else {
		c, err = netns.DialInNetNS(nsPath, unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("rtnetlink %s: %w", nsPath, err)
	}
	defer c.Close()
	var all []netlink.Message
	for _, typ := range []netlink.HeaderType{rtmGetLink, rtmGetAddr} {
		req := make([]byte, ifinfomsgLen) // AF_UNSPEC; an ifaddrmsg is a prefix of it
		if typ == rtmGetAddr {
			req = req[:ifaddrmsgLen]
		}
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Dump},
			Data:   req,
		})
		if err != nil {
			return nil, fmt.Errorf("rtnetlink dump %s: %w", nsPath, err)
		}
		all = append(all, msgs...)
	}
	return ParseLinks(all)
}
