package vxlan_test

import (
	"fmt"
	"net/netip"

	"neutrino/internal/vxlan"
)

// Build a VXLAN-encapsulated ARP request, as an OVS or Linux bridge agent
// sends it to every VTEP of a network, and decode it again.
func ExampleDecode() {
	p := vxlan.Packet{
		Outer: vxlan.Frame{
			Layers:   vxlan.LayerEthernet | vxlan.LayerIPv4 | vxlan.LayerUDP,
			Ethernet: vxlan.Ethernet{Dst: vxlan.MAC{0x52, 0x54, 0, 0, 1, 2}, Src: vxlan.MAC{0x52, 0x54, 0, 0, 1, 1}},
			IPv4:     vxlan.IPv4{TTL: 64, Src: netip.MustParseAddr("198.18.255.101"), Dst: netip.MustParseAddr("198.18.255.102")},
			UDP:      vxlan.UDP{SrcPort: 40000, DstPort: vxlan.PortIANA},
		},
		IsVXLAN: true,
		VXLAN:   vxlan.Header{Flags: vxlan.FlagVNI, VNI: 1001},
		Inner: vxlan.Frame{
			Layers:   vxlan.LayerEthernet | vxlan.LayerARP,
			Ethernet: vxlan.Ethernet{Dst: vxlan.Broadcast, Src: vxlan.MAC{0xfa, 0x16, 0x3e, 0, 0, 1}},
			ARP: vxlan.ARP{Op: vxlan.ARPRequest, SenderMAC: vxlan.MAC{0xfa, 0x16, 0x3e, 0, 0, 1},
				SenderIP: netip.MustParseAddr("192.168.1.1"), TargetIP: netip.MustParseAddr("192.168.1.4")},
		},
	}
	wire := p.Append(nil)

	var got vxlan.Packet
	if err := vxlan.Decode(wire, &got); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(wire), "bytes")
	fmt.Println(got.String())
	// Output:
	// 92 bytes
	// 198.18.255.101.40000 > 198.18.255.102.4789: VXLAN vni 1001: ARP who-has 192.168.1.4 tell 192.168.1.1
}
