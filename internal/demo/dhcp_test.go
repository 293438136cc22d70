package demo

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	gplayers "github.com/gopacket/gopacket/layers"
)

func TestDecodeDHCP(t *testing.T) {
	mac, _ := net.ParseMAC("fa:16:3e:28:45:8e")
	m := &gplayers.DHCPv4{Operation: gplayers.DHCPOpReply, HardwareType: gplayers.LinkTypeEthernet, HardwareLen: 6,
		Xid: 0x0df5cc74, ClientHWAddr: mac, YourClientIP: net.IPv4(192, 168, 1, 9).To4(),
		Options: gplayers.DHCPOptions{
			gplayers.NewDHCPOption(gplayers.DHCPOptMessageType, []byte{byte(gplayers.DHCPMsgTypeOffer)}),
			gplayers.NewDHCPOption(gplayers.DHCPOptServerID, []byte{192, 168, 1, 2}),
			gplayers.NewDHCPOption(gplayers.DHCPOptLeaseTime, []byte{0, 1, 0x51, 0x80}),
			gplayers.NewDHCPOption(gplayers.DHCPOptRouter, []byte{192, 168, 1, 1}),
			gplayers.NewDHCPOption(gplayers.DHCPOptInterfaceMTU, []byte{0x05, 0xaa}),
		}}
	buf := gopacket.NewSerializeBuffer()
	if err := m.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	got, ok := decodeDHCP(buf.Bytes())
	want := "DHCPOFFER    xid 0x0df5cc74 chaddr fa:16:3e:28:45:8e yiaddr 192.168.1.9 (server 192.168.1.2, lease 86400s, router 192.168.1.1, mtu 1450)"
	if !ok || got != want {
		t.Fatalf("decodeDHCP = %q, %v\nwant %q", got, ok, want)
	}
	if _, ok := decodeDHCP([]byte("not dhcp")); ok {
		t.Fatal("garbage decoded as DHCP")
	}
}
