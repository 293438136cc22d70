package l3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"neutrino/internal/dataplane/linux"
)

// InterfaceDriver gives a router port its device in the router's
// namespace, attached to the node's L2 data plane, as Neutron's interface
// drivers do (interface_driver in l3_agent.ini). The Applier passes
// netlink handles in the router's namespace (nh) and in the node's
// namespace where the L2 data plane lives (host).
type InterfaceDriver interface {
	// Plug makes d.Name exist in namespace ns, attached to the data
	// plane as port d. It is called on every Apply and must be
	// idempotent: on a device that exists it only checks (and corrects)
	// the attachment.
	Plug(ctx context.Context, ns string, nh, host *netlink.Handle, d Device) error
	// Unplug removes what Plug made for dev outside the namespace
	// (missing is not an error); the caller then deletes dev.
	Unplug(ctx context.Context, host *netlink.Handle, dev string) error
}

// VIFPlugger is the integration bridge as the OVS driver needs it
// (*ovs.VIFs).
type VIFPlugger interface {
	PlugInternal(ctx context.Context, dev, portID, mac string) error
	Unplug(ctx context.Context, dev string) error
}

// OVSDriver is interface_driver = openvswitch: each router port is an
// OVS internal port of br-int named after its device, with os-vif's
// external_ids (iface-id, attached-mac, iface-status=active), so the OVS
// agent tags it like any VM port; ovs-vswitchd creates the device in the
// node's namespace, and Plug moves it into the router's.
//
// With the userspace (netdev) datapath the internal port is a tap that
// ovs-vswitchd keeps open: packets flow through its file descriptor
// whatever namespace the device is in (ovs-vswitchd logs that it can no
// longer query the device by name, which is harmless), and the device
// disappears if ovs-vswitchd restarts; the next Apply plugs it again.
type OVSDriver struct {
	VIFs VIFPlugger
}

// Plug implements InterfaceDriver.
func (o OVSDriver) Plug(ctx context.Context, ns string, nh, host *netlink.Handle, d Device) error {
	if err := o.VIFs.PlugInternal(ctx, d.Name, d.PortID, d.MAC); err != nil {
		return err
	}
	if _, err := nh.LinkByName(d.Name); err == nil {
		return nil
	}
	// ovs-vswitchd makes the device once it has read the new port.
	var l netlink.Link
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		if l, err = host.LinkByName(d.Name); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("ovs internal port %s did not appear: %w", d.Name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return moveInto(host, l, ns)
}

// Unplug implements InterfaceDriver: deleting the port makes
// ovs-vswitchd close (and so delete) the device.
func (o OVSDriver) Unplug(ctx context.Context, _ *netlink.Handle, dev string) error {
	return o.VIFs.Unplug(ctx, dev)
}

// BridgeDriver is interface_driver = linuxbridge: a veth pair per router
// port, tap<port id[:11]> in the node's namespace and the qr-/qg-
// device in the router's. The tap goes into the network's bridge
// brq<network id[:11]> when the Linux bridge agent has made it (the agent
// also enslaves taps of ports bound to its host by itself).
type BridgeDriver struct{}

// Plug implements InterfaceDriver.
func (BridgeDriver) Plug(_ context.Context, ns string, nh, host *netlink.Handle, d Device) error {
	tapName := TapDevice(d.PortID)
	tap, tapErr := host.LinkByName(tapName)
	if _, err := nh.LinkByName(d.Name); err != nil || tapErr != nil {
		// Half a pair (one end deleted by hand) is made again.
		if l, err := nh.LinkByName(d.Name); err == nil {
			if err := nh.LinkDel(l); err != nil {
				return fmt.Errorf("delete %s without its tap: %w", d.Name, err)
			}
		}
		if tapErr == nil {
			if err := host.LinkDel(tap); err != nil {
				return fmt.Errorf("delete stray %s: %w", tapName, err)
			}
		}
		fd, err := netns.GetFromName(ns)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", ns, err)
		}
		attrs := netlink.LinkAttrs{Name: tapName, MTU: d.MTU}
		veth := &netlink.Veth{LinkAttrs: attrs, PeerName: d.Name, PeerNamespace: netlink.NsFd(int(fd))}
		if mac, err := net.ParseMAC(d.MAC); err == nil {
			veth.PeerHardwareAddr = mac
		}
		err = host.LinkAdd(veth)
		fd.Close()
		if err != nil {
			return fmt.Errorf("add veth %s/%s: %w", tapName, d.Name, err)
		}
		if tap, err = host.LinkByName(tapName); err != nil {
			return err
		}
	}
	if d.MTU > 0 && tap.Attrs().MTU != d.MTU {
		if err := host.LinkSetMTU(tap, d.MTU); err != nil {
			return fmt.Errorf("%s mtu: %w", tapName, err)
		}
	}
	if br, err := host.LinkByName(linux.BridgeName(d.NetworkID)); err == nil && tap.Attrs().MasterIndex != br.Attrs().Index {
		if err := host.LinkSetMaster(tap, br); err != nil {
			return fmt.Errorf("%s into %s: %w", tapName, br.Attrs().Name, err)
		}
	}
	if tap.Attrs().Flags&net.FlagUp == 0 {
		if err := host.LinkSetUp(tap); err != nil {
			return fmt.Errorf("%s up: %w", tapName, err)
		}
	}
	return nil
}

// Unplug implements InterfaceDriver: the tap goes, and with it its peer.
func (BridgeDriver) Unplug(_ context.Context, host *netlink.Handle, dev string) error {
	l, err := host.LinkByName("tap" + dev[len("qr-"):])
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return err
	}
	return host.LinkDel(l)
}

// moveInto moves link from host into namespace ns.
func moveInto(host *netlink.Handle, l netlink.Link, ns string) error {
	fd, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer fd.Close()
	if err := host.LinkSetNsFd(l, int(fd)); err != nil {
		return fmt.Errorf("move %s into %s: %w", l.Attrs().Name, ns, err)
	}
	return nil
}

// handle opens a netlink handle in the named namespace ("" = ours) for
// the families the applier uses (routing, and netfilter for conntrack):
// fewer sockets to open in the namespace than lab.Handle's every family.
func handle(ns string) (*netlink.Handle, error) {
	fams := []int{unix.NETLINK_ROUTE, unix.NETLINK_NETFILTER}
	if ns == "" {
		return netlink.NewHandle(fams...)
	}
	fd, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd, fams...)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", ns, err)
	}
	return h, nil
}
