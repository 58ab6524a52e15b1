package inspect

import (
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/mdlayher/netlink"
)

func linkMsg(t *testing.T, index, iflink int, name, kind string, mac []byte) netlink.Message {
	t.Helper()
	hdr := make([]byte, ifinfomsgLen)
	binary.NativeEndian.PutUint32(hdr[4:8], uint32(index))
	ae := netlink.NewAttributeEncoder()
	ae.String(iflaIfname, name)
	if mac != nil {
		ae.Bytes(iflaAddress, mac)
	}
	ae.Uint32(iflaLink, uint32(iflink))
	if kind != "" {
		ae.Nested(iflaLinkinfo, func(nae *netlink.AttributeEncoder) error {
			nae.String(iflaInfoKind, kind)
			return nil
		})
	}
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return netlink.Message{Header: netlink.Header{Type: rtmNewLink}, Data: append(hdr, b...)}
}

func addrMsg(t *testing.T, index int, p netip.Prefix) netlink.Message {
	t.Helper()
	hdr := make([]byte, ifaddrmsgLen)
	hdr[1] = byte(p.Bits())
	binary.NativeEndian.PutUint32(hdr[4:8], uint32(index))
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(ifaAddress, p.Addr().AsSlice())
	ae.Bytes(ifaLocal, p.Addr().AsSlice())
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return netlink.Message{Header: netlink.Header{Type: rtmNewAddr}, Data: append(hdr, b...)}
}

func TestParseLinksAndPeer(t *testing.T) {
	mac := []byte{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	// The container: lo (1) and eth0 (ifindex 9, peer ifindex 10 on the host).
	ctr, err := ParseLinks([]netlink.Message{
		linkMsg(t, 1, 1, "lo", "", make([]byte, 6)),
		linkMsg(t, 9, 10, "eth0", "veth", mac),
		addrMsg(t, 1, netip.MustParsePrefix("127.0.0.1/8")),
		addrMsg(t, 9, netip.MustParsePrefix("172.17.0.2/16")),
		addrMsg(t, 9, netip.MustParsePrefix("fe80::42:acff:fe11:2/64")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ctr) != 2 || ctr[1].Name != "eth0" || ctr[1].MAC != "02:42:ac:11:00:02" || ctr[1].Kind != "veth" ||
		len(ctr[1].Addrs) != 2 || ctr[1].Addrs[0] != "172.17.0.2/16" {
		t.Fatalf("parsed %+v", ctr)
	}
	if !ctr[1].HasAddr(netip.MustParseAddr("172.17.0.2")) || ctr[1].HasAddr(netip.MustParseAddr("172.17.0.3")) {
		t.Error("HasAddr")
	}
	// The host: docker0 (3), a veth of another container whose ifindex
	// happens to be 9 too (its peer is 2 in that container), and ours (10).
	host, err := ParseLinks([]netlink.Message{
		linkMsg(t, 3, 3, "docker0", "bridge", mac),
		linkMsg(t, 9, 2, "vethaaaa", "veth", mac),
		linkMsg(t, 10, 9, "vethbbbb", "veth", mac),
	})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := PeerVeth(ctr[1], host)
	if !ok || p.Name != "vethbbbb" {
		t.Errorf("peer of eth0 = %+v %v, want vethbbbb", p, ok)
	}
	if p, ok := PeerVeth(ctr[0], host); ok {
		t.Errorf("lo has a peer %+v", p)
	}
}

func TestParseLinksShort(t *testing.T) {
	if _, err := ParseLinks([]netlink.Message{{Header: netlink.Header{Type: rtmNewLink}, Data: []byte{1, 2}}}); err == nil {
		t.Error("no error for a short ifinfomsg")
	}
}

// TestReadLinksOwn compares the rtnetlink dump of the test's own namespace
// with the standard library's view of it.
func TestReadLinksOwn(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("rtnetlink is Linux only")
	}
	links, err := ReadLinks("")
	if err != nil {
		t.Fatal(err)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != len(ifs) {
		t.Fatalf("%d links, net.Interfaces has %d", len(links), len(ifs))
	}
	for i, ifc := range ifs {
		l := links[i]
		if l.Index != ifc.Index || l.Name != ifc.Name {
			t.Errorf("link %d: %d %s, want %d %s", i, l.Index, l.Name, ifc.Index, ifc.Name)
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ip, _ := netip.ParsePrefix(a.String())
			if !l.HasAddr(ip.Addr()) {
				t.Errorf("%s: %s missing from %v", l.Name, a, l.Addrs)
			}
		}
	}
}

func FuzzParseLinks(f *testing.F) {
	f.Add(uint16(rtmNewLink), []byte{0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 3, 0, 'l', 'o', 0, 0})
	f.Add(uint16(rtmNewAddr), []byte{2, 8, 0, 0, 1, 0, 0, 0, 8, 0, 2, 0, 127, 0, 0, 1})
	f.Fuzz(func(t *testing.T, typ uint16, b []byte) {
		_, _ = ParseLinks([]netlink.Message{{Header: netlink.Header{Type: netlink.HeaderType(typ)}, Data: b}})
	})
}
