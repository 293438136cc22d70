package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"neutrino/internal/dataplane"
)

// VIF is a VM's interface as Nova plugs it for the Linux bridge driver.
type VIF struct {
	// PortID names the node-side device: "tap" + PortID[:11].
	PortID string
	// MAC, Addr (fixed IP with the subnet's prefix length) and MTU (the
	// network's) are set on the VM side.
	MAC  string
	Addr netip.Prefix
	MTU  int
	// Gateway, when valid, becomes the VM's default route.
	Gateway netip.Addr
	// DHCP leaves the VM's interface without address, route or MTU (the
	// node-side tap still gets MTU): the VM asks by DHCP (DHCPOnce), as a
	// cirros VM does. Addr is then not needed.
	DHCP bool
	// IfName is the device inside the VM: "eth0" when empty.
	IfName string
}

// VM is a namespace plugged into a node.
type VM struct {
	Name string
	NS   string
	Node *Node
	VIF  VIF
	// Tap is the node-side device name.
	Tap string
}

// TapName is Nova's Linux bridge device name for a port: "tap" + the first
// 11 characters of the port id (14 characters, under IFNAMSIZ).
func TapName(portID string) string { return dataplane.TapName(portID) }

// PlugVIF creates the VM namespace vmNS (if missing) and a veth pair: the
// tap device on the node side (up, the network's MTU, not enslaved: the
// agent finds it and attaches it to the network's bridge) and the VM's
// interface with the port's MAC, fixed IP and MTU. On failure it removes
// what it made.
func PlugVIF(ctx context.Context, nodeNS, vmNS string, vif VIF) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if vif.PortID == "" || vif.MAC == "" || (!vif.Addr.IsValid() && !vif.DHCP) {
		return errors.New("plug: port id, MAC and address (or DHCP) are required")
	}
	mac, err := net.ParseMAC(vif.MAC)
	if err != nil {
		return fmt.Errorf("plug %s: %w", vif.PortID, err)
	}
	ifName := vif.IfName
	if ifName == "" {
		ifName = "eth0"
	}
	tap := TapName(vif.PortID)
	created := false
	if !NSExists(vmNS) {
		if err := CreateNS(vmNS); err != nil {
			return err
		}
		created = true
	}
	nh, err := Handle(nodeNS)
	if err != nil {
		return err
	}
	defer nh.Close()
	defer func() {
		if err == nil {
			return
		}
		if l, lerr := nh.LinkByName(tap); lerr == nil {
			_ = nh.LinkDel(l)
		}
		if created {
			_ = DeleteNS(vmNS)
		}
	}()
	vfd, err := netns.GetFromName(vmNS)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", vmNS, err)
	}
	defer vfd.Close()
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: tap, MTU: vif.MTU},
		PeerName:         ifName,
		PeerHardwareAddr: mac,
		PeerNamespace:    netlink.NsFd(int(vfd)),
	}
	if err := nh.LinkAdd(veth); err != nil {
		return fmt.Errorf("plug %s: veth: %w", vif.PortID, err)
	}
	tl, err := nh.LinkByName(tap)
	if err != nil {
		return fmt.Errorf("plug %s: %w", vif.PortID, err)
	}
	if err := nh.LinkSetUp(tl); err != nil {
		return fmt.Errorf("plug %s: tap up: %w", vif.PortID, err)
	}
	vh, err := Handle(vmNS)
	if err != nil {
		return err
	}
	defer vh.Close()
	dev, err := vh.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("plug %s: %w", vif.PortID, err)
	}
	if vif.DHCP {
		// The peer was made with the tap's MTU: DHCP's option 26 sets it.
		if err := vh.LinkSetMTU(dev, 1500); err != nil {
			return fmt.Errorf("plug %s: mtu: %w", vif.PortID, err)
		}
		if err := vh.LinkSetUp(dev); err != nil {
			return fmt.Errorf("plug %s: up: %w", vif.PortID, err)
		}
		return nil
	}
	if vif.MTU > 0 {
		if err := vh.LinkSetMTU(dev, vif.MTU); err != nil {
			return fmt.Errorf("plug %s: mtu: %w", vif.PortID, err)
		}
	}
	if err := vh.AddrAdd(dev, &netlink.Addr{IPNet: prefixNet(vif.Addr)}); err != nil {
		return fmt.Errorf("plug %s: address: %w", vif.PortID, err)
	}
	if err := vh.LinkSetUp(dev); err != nil {
		return fmt.Errorf("plug %s: up: %w", vif.PortID, err)
	}
	if vif.Gateway.IsValid() {
		r := &netlink.Route{LinkIndex: dev.Attrs().Index, Gw: net.IP(vif.Gateway.AsSlice())}
		if err := vh.RouteAdd(r); err != nil {
			return fmt.Errorf("plug %s: default route: %w", vif.PortID, err)
		}
	}
	return nil
}

// UnplugVIF removes the port's tap device from the node (if still there)
// and deletes the VM namespace. Missing objects are not errors.
func UnplugVIF(ctx context.Context, nodeNS, vmNS, portID string) error {
	var errs []error
	if nodeNS != "" && NSExists(nodeNS) {
		nh, err := Handle(nodeNS)
		if err != nil {
			errs = append(errs, err)
		} else {
			if l, lerr := nh.LinkByName(TapName(portID)); lerr == nil {
				if err := nh.LinkDel(l); err != nil {
					errs = append(errs, fmt.Errorf("unplug %s: %w", portID, err))
				}
			}
			nh.Close()
		}
	}
	if err := DeleteNS(vmNS); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// AddVM plugs a VM namespace "<prefix>-vm-<name>" into node.
func (l *Lab) AddVM(ctx context.Context, node *Node, name string, vif VIF) (*VM, error) {
	return l.plug(ctx, node, name, l.Prefix+"-vm-"+name, vif)
}

// AddRouter plugs a router-like namespace "<prefix>-qrouter-<name>" into
// node, its interface named "qr-" + PortID[:11] as the L3 agent names it.
// vif carries the gateway IP; the port's device_owner is
// network:router_interface (the caller creates the port).
func (l *Lab) AddRouter(ctx context.Context, node *Node, name string, vif VIF) (*VM, error) {
	if vif.IfName == "" {
		id := vif.PortID
		if len(id) > 11 {
			id = id[:11]
		}
		vif.IfName = "qr-" + id
	}
	return l.plug(ctx, node, name, l.Prefix+"-qrouter-"+name, vif)
}

func (l *Lab) plug(ctx context.Context, node *Node, name, ns string, vif VIF) (*VM, error) {
	if err := PlugVIF(ctx, node.NS, ns, vif); err != nil {
		return nil, err
	}
	vm := &VM{Name: name, NS: ns, Node: node, VIF: vif, Tap: TapName(vif.PortID)}
	if vm.VIF.IfName == "" {
		vm.VIF.IfName = "eth0"
	}
	l.mu.Lock()
	l.vms = append(l.vms, vm)
	l.mu.Unlock()
	return vm, nil
}

// RemoveVM unplugs a VM (tap and namespace).
func (l *Lab) RemoveVM(ctx context.Context, vm *VM) error {
	l.mu.Lock()
	for i, v := range l.vms {
		if v == vm {
			l.vms = append(l.vms[:i], l.vms[i+1:]...)
			break
		}
	}
	l.mu.Unlock()
	return UnplugVIF(ctx, vm.Node.NS, vm.NS, vm.VIF.PortID)
}

// HybridNames are os-vif's device names for hybrid plugging: the bridge
// qbr<id>, and the veth pair qvb<id> (on qbr) / qvo<id> (on br-int), with
// the first 11 characters of the port id.
func HybridNames(portID string) (qbr, qvb, qvo string) {
	id := portID
	if len(id) > 11 {
		id = id[:11]
	}
	return "qbr" + id, "qvb" + id, "qvo" + id
}

// PlugHybrid does on the node what os-vif does for a port whose
// binding:vif_details say ovs_hybrid_plug (firewall_driver =
// iptables_hybrid): a Linux bridge qbr<id> holding the VM's tap (made by
// PlugVIF) and qvb<id>, whose veth peer qvo<id> the caller adds to br-int
// with the port's external_ids. On failure it removes what it made.
func PlugHybrid(ctx context.Context, nodeNS, portID string, mtu int) (qvo string, err error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	qbr, qvb, qvo := HybridNames(portID)
	h, err := Handle(nodeNS)
	if err != nil {
		return "", err
	}
	defer h.Close()
	defer func() {
		if err != nil {
			err = errors.Join(err, UnplugHybrid(context.WithoutCancel(ctx), nodeNS, portID))
		}
	}()
	off := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: qbr, MTU: mtu}, MulticastSnooping: &off}
	if err := h.LinkAdd(br); err != nil {
		return "", fmt.Errorf("hybrid plug %s: bridge %s: %w", portID, qbr, err)
	}
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: qvb, MTU: mtu}, PeerName: qvo}); err != nil {
		return "", fmt.Errorf("hybrid plug %s: veth %s/%s: %w", portID, qvb, qvo, err)
	}
	for _, name := range []string{TapName(portID), qvb} {
		l, err := h.LinkByName(name)
		if err != nil {
			return "", fmt.Errorf("hybrid plug %s: %w", portID, err)
		}
		if err := h.LinkSetMaster(l, br); err != nil {
			return "", fmt.Errorf("hybrid plug %s: %s on %s: %w", portID, name, qbr, err)
		}
	}
	for _, name := range []string{qbr, qvb, qvo} {
		l, err := h.LinkByName(name)
		if err == nil {
			err = h.LinkSetUp(l)
		}
		if err != nil {
			return "", fmt.Errorf("hybrid plug %s: %s up: %w", portID, name, err)
		}
	}
	return qvo, nil
}

// UnplugHybrid removes a port's qbr bridge and qvb/qvo pair (missing ones
// are not errors); the tap goes with UnplugVIF.
func UnplugHybrid(_ context.Context, nodeNS, portID string) error {
	qbr, qvb, _ := HybridNames(portID)
	h, err := Handle(nodeNS)
	if err != nil {
		return err
	}
	defer h.Close()
	var errs []error
	for _, name := range []string{qvb, qbr} {
		if l, err := h.LinkByName(name); err == nil {
			if err := h.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("unplug hybrid %s: %s: %w", portID, name, err))
			}
		}
	}
	return errors.Join(errs...)
}
