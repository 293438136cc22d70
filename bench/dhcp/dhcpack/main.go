// Command dhcpack is bench/dhcp/run.sh's VM: from inside a VM namespace
// it creates a port through the Neutron API (with a MAC it picks) and asks
// for that port's lease, sending a DHCPDISCOVER every -interval until an
// OFFER comes and then a DHCPREQUEST every -interval until the ACK. It
// prints the port create's round trip and the time from the create's
// start to the ACK. A real client (udhcpc, dhclient) waits a second or
// more between attempts and boots after the port exists; asking all along
// makes the figure the time the DHCP service could first answer, within
// one interval. Timing here, not in the shell, keeps process starts out
// of the figure.
//
//	dhcpack -netns VM -url http://127.0.0.1:9696 -network ID [-i eth0] [-interval 20ms]
//
// prints one line: "port ID api_s=0.012 ack_s=0.153 discovers=8 addr=10.0.1.5".
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netns"
)

func main() {
	dev := flag.String("i", "eth0", "interface to ask on")
	ns := flag.String("netns", "", "the VM's network namespace (the API is reached from ours)")
	url := flag.String("url", "", "Neutron API endpoint (noauth)")
	network := flag.String("network", "", "network to create the port on")
	name := flag.String("name", "dhcpbench-port", "the port's name")
	interval := flag.Duration("interval", 20*time.Millisecond, "time between attempts")
	timeout := flag.Duration("timeout", 120*time.Second, "give up after")
	flag.Parse()
	if *url == "" || *network == "" {
		fmt.Fprintln(os.Stderr, "dhcpack: -url and -network are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	mac := make(net.HardwareAddr, 6)
	copy(mac, []byte{0xfa, 0x16, 0x3e})
	if _, err := rand.Read(mac[3:]); err != nil {
		fmt.Fprintln(os.Stderr, "dhcpack:", err)
		os.Exit(1)
	}
	fd, sa, err := packetSocket(*ns, *dev)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dhcpack:", err)
		os.Exit(1)
	}
	defer syscall.Close(fd)
	if err := run(ctx, fd, sa, mac, *interval, func(ctx context.Context) (string, error) {
		return createPort(ctx, *url, *network, *name, mac)
	}); err != nil {
		fmt.Fprintln(os.Stderr, "dhcpack:", err)
		os.Exit(1)
	}
}

// createPort creates a VM's port with mac on network and returns its id.
func createPort(ctx context.Context, url, network, name string, mac net.HardwareAddr) (string, error) {
	body, _ := json.Marshal(map[string]any{"port": map[string]any{"network_id": network, "name": name,
		"device_owner": "compute:nova", "mac_address": mac.String()}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v2.0/ports", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create port: %s: %s", resp.Status, b)
	}
	var got struct {
		Port struct {
			ID string `json:"id"`
		} `json:"port"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		return "", fmt.Errorf("create port: %w", err)
	}
	return got.Port.ID, nil
}

// htons is the protocol number in network byte order, as AF_PACKET wants.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSocket opens a packet socket on dev in namespace ns ("" = ours):
// a socket stays in the namespace it was made in, so the API calls go
// from ours.
func packetSocket(ns, dev string) (int, *syscall.SockaddrLinklayer, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if ns != "" {
		orig, err := netns.Get()
		if err != nil {
			return 0, nil, err
		}
		defer orig.Close()
		vm, err := netns.GetFromName(ns)
		if err != nil {
			return 0, nil, err
		}
		defer vm.Close()
		if err := netns.Set(vm); err != nil {
			return 0, nil, err
		}
		defer netns.Set(orig)
	}
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return 0, nil, err
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_IP)))
	if err != nil {
		return 0, nil, fmt.Errorf("packet socket: %w", err)
	}
	sa := &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_IP), Ifindex: ifi.Index}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return 0, nil, fmt.Errorf("bind %s: %w", dev, err)
	}
	return fd, sa, nil
}

// run starts create and asks for mac's lease on the packet socket fd
// until the ACK.
func run(ctx context.Context, fd int, sa *syscall.SockaddrLinklayer, mac net.HardwareAddr, interval time.Duration, create func(context.Context) (string, error)) error {
	// Reads wake every interval to send again.
	tv := syscall.NsecToTimeval(interval.Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	type created struct {
		id  string
		err error
		at  time.Duration
	}
	start := time.Now()
	done := make(chan created, 1)
	go func() {
		id, err := create(ctx)
		done <- created{id, err, time.Since(start)}
	}()
	var port *created
	var xid uint32 = uint32(start.UnixNano())
	var offered, server netip.Addr
	discovers := 0
	buf := make([]byte, 2048)
	next := time.Now()
	for ctx.Err() == nil {
		select {
		case c := <-done:
			if c.err != nil {
				return c.err
			}
			port = &c
		default:
		}
		if !time.Now().Before(next) {
			msg := layers.DHCPMsgTypeDiscover
			if offered.IsValid() {
				msg = layers.DHCPMsgTypeRequest
			} else {
				discovers++
			}
			frame, err := Frame(mac, xid, msg, offered, server)
			if err != nil {
				return err
			}
			if err := syscall.Sendto(fd, frame, 0, sa); err != nil {
				return fmt.Errorf("send: %w", err)
			}
			next = time.Now().Add(interval)
		}
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		at := time.Since(start)
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		reply, ok := Parse(buf[:n], xid)
		if !ok {
			continue
		}
		switch reply.Type {
		case layers.DHCPMsgTypeOffer:
			if !offered.IsValid() {
				offered, server = reply.Addr, reply.Server
				next = time.Now() // the REQUEST goes at once
			}
		case layers.DHCPMsgTypeAck:
			if !offered.IsValid() {
				continue
			}
			if port == nil { // the answer came before the API's
				c := <-done
				if c.err != nil {
					return c.err
				}
				port = &c
			}
			fmt.Printf("port %s api_s=%.3f ack_s=%.3f discovers=%d addr=%s\n", port.id, port.at.Seconds(), at.Seconds(), discovers, reply.Addr)
			return nil
		case layers.DHCPMsgTypeNak:
			offered, server = netip.Addr{}, netip.Addr{}
		}
	}
	return fmt.Errorf("no ACK for %s after %d DISCOVERs: %w", mac, discovers, ctx.Err())
}

// Frame is a broadcast DHCP message from mac (the broadcast flag set, so
// the server answers by broadcast: the client has no address yet). A
// REQUEST carries the offered address and the server's id.
func Frame(mac net.HardwareAddr, xid uint32, msg layers.DHCPMsgType, requested, server netip.Addr) ([]byte, error) {
	eth := &layers.Ethernet{SrcMAC: mac, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IPv4zero.To4(), DstIP: net.IPv4bcast.To4()}
	udp := &layers.UDP{SrcPort: 68, DstPort: 67}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	d := &layers.DHCPv4{Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6,
		Xid: xid, Flags: 0x8000, ClientHWAddr: mac,
		Options: layers.DHCPOptions{layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(msg)})}}
	if msg == layers.DHCPMsgTypeRequest {
		d.Options = append(d.Options,
			layers.NewDHCPOption(layers.DHCPOptRequestIP, requested.AsSlice()),
			layers.NewDHCPOption(layers.DHCPOptServerID, server.AsSlice()))
	}
	d.Options = append(d.Options, layers.NewDHCPOption(layers.DHCPOptParamsRequest,
		[]byte{byte(layers.DHCPOptSubnetMask), byte(layers.DHCPOptRouter), byte(layers.DHCPOptDNS), byte(layers.DHCPOptInterfaceMTU)}))
	b := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, d)
	return b.Bytes(), err
}

// Reply is a server's answer to our transaction.
type Reply struct {
	Type   layers.DHCPMsgType
	Addr   netip.Addr // yiaddr
	Server netip.Addr // option 54
}

// Parse reads a frame as a DHCP reply to transaction xid.
func Parse(frame []byte, xid uint32) (Reply, bool) {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.NoCopy)
	l, ok := p.Layer(layers.LayerTypeDHCPv4).(*layers.DHCPv4)
	if !ok || l.Operation != layers.DHCPOpReply || l.Xid != xid {
		return Reply{}, false
	}
	var r Reply
	r.Addr, _ = netip.AddrFromSlice(l.YourClientIP.To4())
	for _, o := range l.Options {
		switch o.Type {
		case layers.DHCPOptMessageType:
			if len(o.Data) == 1 {
				r.Type = layers.DHCPMsgType(o.Data[0])
			}
		case layers.DHCPOptServerID:
			if len(o.Data) == 4 {
				r.Server = netip.AddrFrom4([4]byte(o.Data))
			}
		}
	}
	return r, r.Type != 0
}
