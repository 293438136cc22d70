package demo

import (
	"context"
	"errors"
	"fmt"
	"os"

	"neutrino/internal/vxlan"
)

// openCapture starts an AF_PACKET capture of UDP 4789 on ifName in ns.
func openCapture(ctx context.Context, ns, ifName string) (<-chan vxlan.Record, func() error, error) {
	return vxlan.Capture(ctx, ns, ifName, vxlan.Options{UDPDstPort: vxlan.PortIANA})
}

// decode turns a captured frame into the facts the demo reports and a
// tcpdump-style line.
func decode(r vxlan.Record) (CapturedPacket, string) {
	var p vxlan.Packet
	if err := vxlan.Decode(r.Data, &p); err != nil && !p.IsVXLAN {
		return CapturedPacket{Text: fmt.Sprintf("(undecoded frame: %v)", err)}, r.String()
	}
	c := CapturedPacket{
		OuterSrc: p.Outer.IPv4.Src, OuterDst: p.Outer.IPv4.Dst, DstPort: p.Outer.UDP.DstPort,
		IsVXLAN: p.IsVXLAN, VNI: p.VXLAN.VNI,
	}
	if p.Inner.Layers&vxlan.LayerICMP != 0 {
		c.InnerICMP, c.InnerICMPType = true, p.Inner.ICMP.Type
	}
	if p.Inner.Layers&vxlan.LayerIPv4 != 0 {
		c.InnerSrc, c.InnerDst = p.Inner.IPv4.Src, p.Inner.IPv4.Dst
	}
	if p.Inner.Layers&vxlan.LayerARP != 0 {
		c.innerARP = p.Inner.ARP.Op
		c.arpTarget = p.Inner.ARP.TargetIP
		c.arpSender = p.Inner.ARP.SenderIP
	}
	c.Text = p.String()
	return c, r.String()
}

// writePcapFile writes frames as a classic pcap file.
func writePcapFile(path string, recs []vxlan.Record) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("pcap: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	w, err := vxlan.NewPcapWriter(f, 0)
	if err != nil {
		return fmt.Errorf("pcap %s: %w", path, err)
	}
	for _, r := range recs {
		if err := w.WritePacket(r.Time, r.Data, r.OrigLen); err != nil {
			return fmt.Errorf("pcap %s: %w", path, err)
		}
	}
	return nil
}
