// Package vxlan owns the VXLAN wire format (RFC 7348) as neutrino sees it on
// the underlay: a codec for Ethernet frames carrying IPv4 or IPv6/UDP/VXLAN
// with an inner Ethernet frame (ARP, IPv4, IPv6, ICMP, ICMPv6 echo and
// neighbor discovery, UDP, TCP; 802.1Q tags), one-line tcpdump-style
// rendering of decoded packets, classic pcap files, and live capture on an
// AF_PACKET socket inside a network namespace.
//
// The decoder is hand-written instead of using gopacket: it is small (a few
// fixed-offset headers), needs no cgo or libpcap, and decodes into a
// caller-owned Packet without allocating, so a capture loop can decode every
// frame. gopacket's layers package is used only in the tests, as an
// independent cross-check of both directions of the codec. The pcap format
// is 24 + 16 bytes of header, simpler to write than to depend on.
//
// The codec (codec.go, text.go, pcap.go) is pure; capture_linux.go is the
// only file doing I/O.
package vxlan
