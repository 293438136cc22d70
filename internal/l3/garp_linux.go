package l3

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"neutrino/internal/lab"
)

// garpFrames are the gratuitous ARP frames announcing that addr is at
// mac: an unsolicited reply (`arping -A`) and a request for the address
// itself (`arping -U`), since Neutron sends both: some neighbours honour
// only one kind.
func garpFrames(mac net.HardwareAddr, addr netip.Addr) ([][]byte, error) {
	var out [][]byte
	for _, op := range []uint16{layers.ARPReply, layers.ARPRequest} {
		eth := &layers.Ethernet{SrcMAC: mac, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
		arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
			SourceHwAddress: mac, SourceProtAddress: addr.AsSlice(),
			DstHwAddress: layers.EthernetBroadcast, DstProtAddress: addr.AsSlice()}
		if op == layers.ARPRequest {
			arp.DstHwAddress = make([]byte, 6)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, eth, arp); err != nil {
			return nil, err
		}
		out = append(out, buf.Bytes())
	}
	return out, nil
}

// sendGARP sends the gratuitous ARP frames for addr out of dev in
// namespace ns, from dev's own MAC, through an AF_PACKET socket opened
// inside the namespace.
func sendGARP(ns, dev string, addr netip.Addr) error {
	return lab.InNS(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		frames, err := garpFrames(ifi.HardwareAddr, addr)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ARP)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index, Halen: 6}
		copy(sa.Addr[:], layers.EthernetBroadcast)
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				return fmt.Errorf("send gratuitous ARP for %s on %s: %w", addr, dev, err)
			}
		}
		return nil
	})
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
