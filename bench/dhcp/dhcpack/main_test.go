package main

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestFrame: a REQUEST is a broadcast from the port's MAC with the
// broadcast flag, the offered address and the server's id.
func TestFrame(t *testing.T) {
	mac, _ := net.ParseMAC("fa:16:3e:00:00:04")
	b, err := Frame(mac, 42, layers.DHCPMsgTypeRequest, netip.MustParseAddr("10.0.1.4"), netip.MustParseAddr("10.0.1.2"))
	if err != nil {
		t.Fatal(err)
	}
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	d := p.Layer(layers.LayerTypeDHCPv4).(*layers.DHCPv4)
	if eth.SrcMAC.String() != mac.String() || eth.DstMAC.String() != "ff:ff:ff:ff:ff:ff" || udp.SrcPort != 68 || udp.DstPort != 67 ||
		d.Xid != 42 || d.Flags != 0x8000 || d.ClientHWAddr.String() != mac.String() {
		t.Fatalf("frame %v", p)
	}
	got := map[layers.DHCPOpt]string{}
	for _, o := range d.Options {
		got[o.Type] = string(o.Data)
	}
	if got[layers.DHCPOptMessageType] != string([]byte{byte(layers.DHCPMsgTypeRequest)}) ||
		got[layers.DHCPOptRequestIP] != string([]byte{10, 0, 1, 4}) || got[layers.DHCPOptServerID] != string([]byte{10, 0, 1, 2}) {
		t.Fatalf("options %v", d.Options)
	}
}

// TestParse: a server's ACK for our transaction is read, another
// transaction's and our own request are not.
func TestParse(t *testing.T) {
	mac, _ := net.ParseMAC("fa:16:3e:00:00:04")
	reply := func(op layers.DHCPOp, xid uint32) []byte {
		d := &layers.DHCPv4{Operation: op, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6, Xid: xid,
			YourClientIP: net.IPv4(10, 0, 1, 4), ClientHWAddr: mac, Options: layers.DHCPOptions{
				layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(layers.DHCPMsgTypeAck)}),
				layers.NewDHCPOption(layers.DHCPOptServerID, []byte{10, 0, 1, 2})}}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(10, 0, 1, 2).To4(), DstIP: net.IPv4bcast.To4()}
		udp := &layers.UDP{SrcPort: 67, DstPort: 68}
		_ = udp.SetNetworkLayerForChecksum(ip)
		b := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&layers.Ethernet{SrcMAC: mac, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeIPv4}, ip, udp, d); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	r, ok := Parse(reply(layers.DHCPOpReply, 7), 7)
	if !ok || r.Type != layers.DHCPMsgTypeAck || r.Addr != netip.MustParseAddr("10.0.1.4") || r.Server != netip.MustParseAddr("10.0.1.2") {
		t.Fatalf("Parse = %+v, %v", r, ok)
	}
	if _, ok := Parse(reply(layers.DHCPOpReply, 8), 7); ok {
		t.Fatal("another transaction's reply taken")
	}
	if _, ok := Parse(reply(layers.DHCPOpRequest, 7), 7); ok {
		t.Fatal("a request taken for a reply")
	}
}
