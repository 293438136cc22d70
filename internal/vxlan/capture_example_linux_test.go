package vxlan_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"neutrino/internal/vxlan"
)

// Print the VXLAN traffic on a node's underlay interface for ten seconds
// and keep a pcap file for Wireshark.
func ExampleCapture() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, stopErr, err := vxlan.Capture(ctx, "nt-1a2b3c-compute1", "eth0", vxlan.Options{UDPDstPort: vxlan.PortIANA})
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := os.Create("underlay.pcap")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	w, err := vxlan.NewPcapWriter(f, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for r := range recs {
		fmt.Println(r.String())
		if err := w.WritePacket(r.Time, r.Data, r.OrigLen); err != nil {
			fmt.Println(err)
		}
	}
	if err := stopErr(); err != nil {
		fmt.Println("capture stopped:", err)
	}
}
