package demo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"neutrino/internal/lab"
	"neutrino/internal/neutron"

	"github.com/google/uuid"
)

// createNetwork creates testnet and its subnet through the API.
func (d *runner) createNetwork(ctx context.Context) error {
	n, err := d.api.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: projectID, Name: "testnet"})
	if err != nil {
		return fmt.Errorf("create testnet: %w", err)
	}
	d.net = n
	sub, err := d.api.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: projectID, NetworkID: n.ID, Name: "testsubnet", IPVersion: 4, CIDR: cidr})
	if err != nil {
		return fmt.Errorf("create subnet: %w", err)
	}
	d.subnetID = sub.ID
	if len(n.Segments) > 0 {
		d.res.VNI = uint32(n.Segments[0].SegmentationID)
	}
	d.say("$ neutrino network create testnet        -> %s, provider:network_type vxlan, provider:segmentation_id (VNI) %d, mtu %d\n", n.ID, d.res.VNI, n.MTU)
	d.say("$ neutrino subnet create --network testnet %s -> %s, gateway %s\n", cidr, sub.ID, sub.GatewayIP)
	if d.res.VNI == 0 {
		return errors.New("testnet has no VNI")
	}
	gw, err := netip.ParseAddr(sub.GatewayIP)
	if err != nil {
		return fmt.Errorf("gateway %q: %w", sub.GatewayIP, err)
	}
	d.rtrIP = gw
	return nil
}

// plug creates a VM's port bound to host and plugs the VM's namespace into
// it the way Nova's VIF driver for the mechanism does (a veth; on OVS also
// the br-int port with os-vif's external_ids). The VM asks for its address
// by DHCP once its port is up.
func (d *runner) plug(ctx context.Context, host, deviceID string) (*lab.VM, *neutron.Port, error) {
	pc := neutron.PortCreate{ProjectID: projectID, NetworkID: d.net.ID, DeviceID: deviceID, DeviceOwner: "compute:nova", HostID: host}
	p, err := d.api.CreatePort(ctx, pc)
	if err != nil {
		return nil, nil, fmt.Errorf("create port on %s: %w", host, err)
	}
	if len(p.FixedIPs) == 0 {
		return nil, nil, fmt.Errorf("port %s has no fixed IP", p.ID)
	}
	vif := lab.VIF{PortID: p.ID, MAC: p.MACAddress, MTU: d.net.MTU, DHCP: true}
	node := d.nodes[host]
	vm, err := d.lab.AddVM(ctx, node, deviceID, vif)
	if err != nil {
		return nil, nil, err
	}
	if o := d.ovs[host]; o != nil {
		dev := vm.Tap
		// A VM port bound with ovs_hybrid_plug (the seed's
		// iptables_hybrid firewall) goes through qbr/qvb/qvo as os-vif
		// plugs it.
		if p.OVSHybridPlug() {
			if dev, err = lab.PlugHybrid(ctx, node.NS, p.ID, d.net.MTU); err != nil {
				return nil, nil, err
			}
		}
		if err := o.PlugVIF(ctx, "br-int", dev, p.ID, p.MACAddress, deviceID); err != nil {
			return nil, nil, err
		}
	}
	return vm, p, nil
}

// bootVMs is `nova boot --num-instances 2`: one VM per compute node (the
// scheduler spreads them).
func (d *runner) bootVMs(ctx context.Context) error {
	// The br-int bridge is the agent's; wait for it before plugging.
	for name, o := range d.ovs {
		if err := poll(ctx, "br-int on "+name, waitPlane, func() (bool, string) {
			_, err := o.Vsctl(ctx, "br-exists", "br-int")
			return err == nil, "br-int not created yet"
		}); err != nil {
			return err
		}
	}
	for _, host := range []string{"compute-1", "compute-2"} {
		id := uuid.NewString()
		vm, p, err := d.plug(ctx, host, id)
		if err != nil {
			return fmt.Errorf("boot on %s: %w", host, err)
		}
		d.res.VMs = append(d.res.VMs, VMInfo{ID: id, Name: "vm-" + id, Host: host, IP: p.FixedIPs[0].IPAddress,
			MAC: strings.ToLower(p.MACAddress), PortID: p.ID, Namespace: vm.NS})
	}
	if err := d.writeLabState(); err != nil {
		return err
	}
	if err := d.waitPorts(ctx); err != nil {
		return err
	}
	if err := d.dhcpVMs(ctx); err != nil {
		return err
	}
	if err := d.writeLabState(); err != nil {
		return err
	}
	var rows [][]string
	for _, v := range d.res.VMs {
		// As `nova list`: ACTIVE once Neutron has the port ACTIVE (the
		// agent saw the VIF), Running while the VM's namespace exists.
		p, err := d.api.GetPort(ctx, v.PortID)
		if err != nil {
			return fmt.Errorf("vm %s: %w", v.Name, err)
		}
		status := map[bool]string{true: "ACTIVE", false: "BUILD"}[p.Status == neutron.StatusActive]
		power := map[bool]string{true: "Running", false: "Shutdown"}[lab.NSExists(v.Namespace)]
		rows = append(rows, []string{v.ID, v.Name, status, power, p.HostID, "testnet=" + v.IP, v.DHCP})
	}
	d.say("\n$ nova list --fields name,status,power_state,host,networks   (neutrino vm list)\n%s",
		table([]string{"ID", "Name", "Status", "Power State", "Host", "Networks", "DHCP lease"}, rows, true))
	return nil
}

// writeLabState lets `neutrino vm list` (and vm boot/delete) work on a
// kept demo.
func (d *runner) writeLabState() error {
	mech := d.opt.Mechanism
	st := lab.State{Prefix: d.lab.Prefix, Mechanism: mech, Hosts: map[string]lab.Host{}, VMs: map[string]lab.VMRecord{}}
	for name, n := range d.nodes {
		h := lab.Host{Namespace: n.NS, LocalIP: n.IP(), Mechanism: mech}
		if o := d.ovs[name]; o != nil {
			h.OVSRunDir = o.RunDir
		}
		st.Hosts[name] = h
	}
	for _, v := range d.res.VMs {
		rec := lab.VMRecord{Name: v.Name, Host: v.Host, Namespace: v.Namespace, PortID: v.PortID}
		if l, ok := d.leases[v.ID]; ok {
			rec.DHCP = &l
		}
		st.VMs[v.ID] = rec
	}
	return lab.WriteState(d.opt.ControlDir, st)
}

// waitPorts waits until the router's and the VMs' ports are ACTIVE (their
// agents saw the devices and reported them up).
func (d *runner) waitPorts(ctx context.Context) error {
	ids := []string{d.router.PortID}
	for _, v := range d.res.VMs {
		ids = append(ids, v.PortID)
	}
	return poll(ctx, "ports ACTIVE", waitAgents, func() (bool, string) {
		for _, id := range ids {
			p, err := d.api.GetPort(ctx, id)
			if err != nil {
				return false, err.Error()
			}
			if p.Status != neutron.StatusActive {
				return false, fmt.Sprintf("port %s is %s", id, p.Status)
			}
		}
		return true, ""
	})
}
