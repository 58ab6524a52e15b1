package inspect

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sort"

	"github.com/mdlayher/netlink"
)

// Link is one network interface of a namespace, from rtnetlink
// (rtnetlink(7): RTM_NEWLINK and RTM_NEWADDR).
type Link struct {
	Index int      `json:"ifindex"`
	Name  string   `json:"name"`
	Kind  string   `json:"kind,omitempty"` // veth, bridge ... (IFLA_INFO_KIND)
	MAC   string   `json:"mac,omitempty"`
	Addrs []string `json:"addresses,omitempty"` // CIDR
	// IfLink is IFLA_LINK: for a veth, the ifindex of its peer in the
	// peer's namespace (what /sys/class/net/IF/iflink shows).
	IfLink int `json:"iflink,omitempty"`
	// HostVeth is the host-side peer of a container's veth.
	HostVeth *Link `json:"host_veth,omitempty"`
}

// rtnetlink constants (linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h).
const (
	rtmNewLink   = 16
	rtmGetLink   = 18
	rtmNewAddr   = 20
	rtmGetAddr   = 22
	ifinfomsgLen = 16
	ifaddrmsgLen = 8
	iflaAddress  = 1
	iflaIfname   = 3
	iflaLink     = 5
	iflaLinkinfo = 18
	iflaInfoKind = 1
	ifaAddress   = 1
	ifaLocal     = 2
)

// ParseLinks decodes RTM_NEWLINK and RTM_NEWADDR messages (a link dump
// followed by an address dump) into the namespace's interfaces, by
// ifindex.
func ParseLinks(msgs []netlink.Message) ([]Link, error) {
	byIndex := map[int]*Link{}
	var order []int
	for _, m := range msgs {
		switch m.Header.Type {
		case rtmNewLink:
			l, err := parseLinkMsg(m.Data)
			if err != nil {
				return nil, err
			}
			if _, dup := byIndex[l.Index]; !dup {
				order = append(order, l.Index)
			}
			byIndex[l.Index] = &l
		case rtmNewAddr:
			idx, a, err := parseAddrMsg(m.Data)
			if err != nil {
				return nil, err
			}
			if l := byIndex[idx]; l != nil && a.IsValid() {
				l.Addrs = append(l.Addrs, a.String())
			}
		}
	}
	sort.Ints(order)
	out := make([]Link, 0, len(order))
	for _, i := range order {
		out = append(out, *byIndex[i])
	}
	return out, nil
}

func parseLinkMsg(b []byte) (Link, error) {
	if len(b) < ifinfomsgLen {
		return Link{}, fmt.Errorf("ifinfomsg of %d bytes", len(b))
	}
	l := Link{Index: int(int32(binary.NativeEndian.Uint32(b[4:8])))}
	ad, err := netlink.NewAttributeDecoder(b[ifinfomsgLen:])
	if err != nil {
		return Link{}, fmt.Errorf("link %d attributes: %w", l.Index, err)
	}
	for ad.Next() {
		switch ad.Type() {
		case iflaIfname:
			l.Name = ad.String()
		case iflaAddress:
			if hw := net.HardwareAddr(ad.Bytes()); len(hw) == 6 {
				l.MAC = hw.String()
			}
		case iflaLink:
			l.IfLink = int(int32(ad.Uint32()))
		case iflaLinkinfo:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() == iflaInfoKind {
						l.Kind = nad.String()
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return Link{}, fmt.Errorf("link %d attributes: %w", l.Index, err)
	}
	return l, nil
}

func parseAddrMsg(b []byte) (int, netip.Prefix, error) {
	if len(b) < ifaddrmsgLen {
		return 0, netip.Prefix{}, fmt.Errorf("ifaddrmsg of %d bytes", len(b))
	}
	plen := int(b[1])
	idx := int(binary.NativeEndian.Uint32(b[4:8]))
	ad, err := netlink.NewAttributeDecoder(b[ifaddrmsgLen:])
	if err != nil {
		return 0, netip.Prefix{}, fmt.Errorf("address of link %d: %w", idx, err)
	}
	var local, addr netip.Addr
	for ad.Next() {
		a, ok := netip.AddrFromSlice(ad.Bytes())
		switch ad.Type() {
		case ifaLocal:
			if ok {
				local = a
			}
		case ifaAddress:
			if ok {
				addr = a
			}
		}
	}
	if err := ad.Err(); err != nil {
		return 0, netip.Prefix{}, fmt.Errorf("address of link %d: %w", idx, err)
	}
	// On a point-to-point link IFA_ADDRESS is the peer; IFA_LOCAL is ours.
	if local.IsValid() {
		addr = local
	}
	if !addr.IsValid() {
		return idx, netip.Prefix{}, nil
	}
	return idx, netip.PrefixFrom(addr, plen), nil
}

// PeerVeth finds the host-side peer of a container interface among the
// host's links: the host link whose ifindex is the container link's
// iflink and whose iflink is the container link's ifindex. Both directions
// must agree, because ifindex numbers are per namespace and a host link
// can share a number with the container's.
func PeerVeth(ctr Link, host []Link) (Link, bool) {
	if ctr.IfLink == 0 || ctr.IfLink == ctr.Index && ctr.Kind != "veth" {
		return Link{}, false
	}
	for _, h := range host {
		if h.Index == ctr.IfLink && h.IfLink == ctr.Index && h.Index != h.IfLink {
			return h, true
		}
	}
	return Link{}, false
}

// HasAddr reports whether one of l's addresses is ip.
func (l Link) HasAddr(ip netip.Addr) bool {
	for _, a := range l.Addrs {
		if p, err := netip.ParsePrefix(a); err == nil && p.Addr() == ip.Unmap() {
			return true
		}
	}
	return false
}
