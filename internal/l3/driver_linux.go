package l3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/linux"
)

// InterfaceDriver gives a router port its device in the router's
// namespace, attached to the node's L2 data plane, as Neutron's interface
// drivers do (interface_driver in l3_agent.ini). The Applier passes
// netlink handles in the router's namespace (nh) and in the node's
// namespace where the L2 data plane lives (host).
type InterfaceDriver interface {
	// Prepare is called once per Apply, before any Plug, with the
	// devices of every router the Apply converges: a driver batches
	// there what would cost a round trip per device (OVSDB).
	Prepare(ctx context.Context, ds []Device) error
	// Plug makes d.Name exist in namespace ns, attached to the data
	// plane as port d, and returns it. cur is the device the namespace
	// has by that name (nil if none). It is called on every Apply and
	// must be idempotent: on a device that exists it only checks (and
	// corrects) the attachment.
	Plug(ctx context.Context, ns string, nh, host *netlink.Handle, d Device, cur netlink.Link) (netlink.Link, error)
	// Unplug removes what Plug made for dev outside the namespace
	// (missing is not an error); the caller then deletes dev.
	Unplug(ctx context.Context, host *netlink.Handle, dev string) error
}

// VIFPlugger is the integration bridge as the OVS driver needs it
// (*dataplane.VIFs).
type VIFPlugger interface {
	PlugInternals(ctx context.Context, vifs []dataplane.VIF) error
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
// disappears if ovs-vswitchd restarts: the new ovs-vswitchd makes it
// again in the node's namespace, where the Applier's Watch sees it and
// has the router plugged again at once.
type OVSDriver struct {
	VIFs VIFPlugger
}

// Prepare implements InterfaceDriver: every port missing from br-int or
// with other external_ids is written in one OVSDB transaction.
func (o OVSDriver) Prepare(ctx context.Context, ds []Device) error {
	vifs := make([]dataplane.VIF, len(ds))
	for i, d := range ds {
		vifs[i] = dataplane.VIF{Dev: d.Name, PortID: d.PortID, MAC: d.MAC}
	}
	return o.VIFs.PlugInternals(ctx, vifs)
}

// Plug implements InterfaceDriver (after Prepare made the port). The
// device is looked for in the node's namespace too, every time: the taps
// are persistent, so after an ovs-vswitchd restart the router's
// namespace still has the old ones (detached from any switch) while the
// new switch made live ones of the same names in its own namespace. The
// one in the node's namespace wins: the stale one is deleted and the live
// one moved in.
func (o OVSDriver) Plug(ctx context.Context, ns string, nh, host *netlink.Handle, d Device, cur netlink.Link) (netlink.Link, error) {
	l, err := host.LinkByName(d.Name)
	if err != nil && cur != nil {
		return cur, nil
	}
	// ovs-vswitchd makes the device once it has read the new port.
	for deadline := time.Now().Add(10 * time.Second); err != nil; l, err = host.LinkByName(d.Name) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("ovs internal port %s did not appear: %w", d.Name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cur != nil {
		if err := nh.LinkDel(cur); err != nil {
			return nil, fmt.Errorf("delete the stale %s: %w", d.Name, err)
		}
	}
	if err := moveInto(host, l, ns); err != nil {
		return nil, err
	}
	return nh.LinkByName(d.Name)
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

// Prepare implements InterfaceDriver: nothing to batch.
func (BridgeDriver) Prepare(context.Context, []Device) error { return nil }

// Plug implements InterfaceDriver.
func (BridgeDriver) Plug(_ context.Context, ns string, nh, host *netlink.Handle, d Device, cur netlink.Link) (netlink.Link, error) {
	tapName := TapDevice(d.PortID)
	tap, tapErr := host.LinkByName(tapName)
	if cur == nil || tapErr != nil {
		// Half a pair (one end deleted by hand) is made again.
		if cur != nil {
			if err := nh.LinkDel(cur); err != nil {
				return nil, fmt.Errorf("delete %s without its tap: %w", d.Name, err)
			}
		}
		if tapErr == nil {
			if err := host.LinkDel(tap); err != nil {
				return nil, fmt.Errorf("delete stray %s: %w", tapName, err)
			}
		}
		fd, err := netns.GetFromName(ns)
		if err != nil {
			return nil, fmt.Errorf("open netns %s: %w", ns, err)
		}
		attrs := netlink.LinkAttrs{Name: tapName, MTU: d.MTU}
		veth := &netlink.Veth{LinkAttrs: attrs, PeerName: d.Name, PeerNamespace: netlink.NsFd(int(fd))}
		if mac, err := net.ParseMAC(d.MAC); err == nil {
			veth.PeerHardwareAddr = mac
		}
		err = host.LinkAdd(veth)
		fd.Close()
		if err != nil {
			return nil, fmt.Errorf("add veth %s/%s: %w", tapName, d.Name, err)
		}
		if tap, err = host.LinkByName(tapName); err != nil {
			return nil, err
		}
		if cur, err = nh.LinkByName(d.Name); err != nil {
			return nil, err
		}
	}
	if d.MTU > 0 && tap.Attrs().MTU != d.MTU {
		if err := host.LinkSetMTU(tap, d.MTU); err != nil {
			return nil, fmt.Errorf("%s mtu: %w", tapName, err)
		}
	}
	if br, err := host.LinkByName(linux.BridgeName(d.NetworkID)); err == nil && tap.Attrs().MasterIndex != br.Attrs().Index {
		if err := host.LinkSetMaster(tap, br); err != nil {
			return nil, fmt.Errorf("%s into %s: %w", tapName, br.Attrs().Name, err)
		}
	}
	if tap.Attrs().Flags&net.FlagUp == 0 {
		if err := host.LinkSetUp(tap); err != nil {
			return nil, fmt.Errorf("%s up: %w", tapName, err)
		}
	}
	return cur, nil
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
// the given netlink families only (each is a socket to open in the
// namespace).
func handle(ns string, families ...int) (*netlink.Handle, error) {
	if ns == "" {
		return netlink.NewHandle(families...)
	}
	fd, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd, families...)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", ns, err)
	}
	return h, nil
}
