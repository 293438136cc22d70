package ml2

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"neutrino/internal/ipam"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// DHCP agent scheduling, as Neutron's dhcp_agent_scheduler does it: every
// network with a DHCP-enabled subnet is hosted by dhcp_agents_per_network
// alive, admin-up DHCP agents, the least loaded first; each hosting agent
// has a DHCP port on the network. Unlike Neutron, where the agent creates
// its port over RPC after it hears of the network, the server keeps ports
// and bindings together in the transaction that changes either, so the
// agents' stream never shows a network without its port.

// scheduledDHCPPort reports whether a network:dhcp port is one the
// scheduler manages on the network (an agent's port), not one an admin
// made by hand.
func scheduledDHCPPort(pt *neutron.Port, networkID string) bool {
	return pt.DeviceOwner == neutron.DeviceOwnerDHCP && strings.HasPrefix(pt.DeviceID, "dhcp") && strings.HasSuffix(pt.DeviceID, "-"+networkID)
}

// readDHCPAgents reads every DHCP agent with its load (the networks it
// hosts) and eligibility.
func (p *Plugin) readDHCPAgents(ctx context.Context, t *store.Tx) (map[string]*schedAgent, error) {
	loads, err := t.DHCPAgentLoads(ctx)
	if err != nil {
		return nil, err
	}
	return p.readSchedAgents(ctx, t, neutron.AgentTypeDHCP, loads)
}

// scheduleDHCP brings one network's DHCP bindings and ports in line with
// its subnets and the agents, inside t. agents is updated with the loads
// it changes, so a caller scheduling many networks reads agents once.
func (p *Plugin) scheduleDHCP(ctx context.Context, t *store.Tx, ips *ipam.Allocation, agents map[string]*schedAgent, networkID string) error {
	return p.scheduleDHCPOpts(ctx, t, ips, agents, networkID, true)
}

// scheduleDHCPOpts is scheduleDHCP; with place false it only drops
// bindings and syncs ports (an admin just took the network off an agent:
// it is not put back at once).
func (p *Plugin) scheduleDHCPOpts(ctx context.Context, t *store.Tx, ips *ipam.Allocation, agents map[string]*schedAgent, networkID string, place bool) error {
	// One scheduler per network at a time, across servers too.
	if err := t.LockNetwork(ctx, networkID); err != nil {
		return err
	}
	n, err := t.PortNetwork(ctx, networkID)
	if err != nil {
		return err
	}
	subs, err := t.NetworkSubnets(ctx, networkID)
	if err != nil {
		return err
	}
	var dhcpSubs []string
	for _, s := range subs {
		if s.EnableDHCP {
			dhcpSubs = append(dhcpSubs, s.ID)
		}
	}
	want := 0
	if len(dhcpSubs) > 0 {
		want = p.dhcpPerNetwork()
	}
	bindings, err := t.DHCPBindings(ctx, networkID, "")
	if err != nil {
		return err
	}
	hosting := map[string]bool{}
	for _, b := range bindings {
		hosting[b.AgentID] = true
	}
	drop, add := planAgents(slices.Sorted(maps.Keys(hosting)), agents, want)
	if !place {
		add = nil
	}
	for _, id := range drop {
		b := neutron.DHCPBinding{NetworkID: networkID, AgentID: id}
		if _, err := t.DeleteDHCPBinding(ctx, b); err != nil {
			return err
		}
		t.Emit(neutron.Deleted(neutron.KindDHCPBinding, neutron.DHCPBindingKey(networkID, id)))
		delete(hosting, id)
		if a := agents[id]; a != nil {
			a.Load--
		}
	}
	for _, id := range add {
		b := neutron.DHCPBinding{NetworkID: networkID, AgentID: id}
		if err := t.InsertDHCPBinding(ctx, b); err != nil {
			return err
		}
		t.Emit(neutron.Created(b))
		hosting[id] = true
		agents[id].Load++
	}
	if len(drop) > 0 || len(add) > 0 {
		p.log.Info("dhcp agents scheduled", "network", networkID, "added", add, "removed", drop)
	}
	hosts := map[string]string{} // device_id -> host
	for id := range hosting {
		if a := agents[id]; a != nil {
			hosts[neutron.DHCPDeviceID(a.Host, networkID)] = a.Host
		}
	}
	return p.syncDHCPPorts(ctx, t, ips, n, dhcpSubs, hosts)
}

// syncDHCPPorts makes the network's scheduler-managed DHCP ports exactly
// one per hosting agent (hosts: device_id -> host), each with an address
// on every DHCP-enabled subnet and none on the others. As in Neutron, the
// port of an agent the network was taken off is not deleted but reserved
// (device_id reserved_dhcp_port, its addresses and MAC kept), and an agent
// that newly hosts the network takes a reserved port before a new one is
// made: a network moved off a dead agent keeps its DHCP server's address
// and MAC, and VMs renewing their leases from it still reach it. Reserved
// ports go with the network's last DHCP subnet (Neutron leaves them
// holding addresses on a network without DHCP).
func (p *Plugin) syncDHCPPorts(ctx context.Context, t *store.Tx, ips *ipam.Allocation, n *neutron.Network, dhcpSubs []string, hosts map[string]string) error {
	ports, err := t.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {n.ID}, "device_owner": {neutron.DeviceOwnerDHCP}}})
	if err != nil {
		return err
	}
	have := map[string]*neutron.Port{}
	var reserved []*neutron.Port // what a new host takes
	for i := range ports {
		pt := &ports[i]
		isReserved := pt.DeviceID == neutron.DeviceIDReservedDHCPPort
		if !isReserved && !scheduledDHCPPort(pt, n.ID) {
			continue
		}
		if _, ok := hosts[pt.DeviceID]; ok && have[pt.DeviceID] == nil {
			have[pt.DeviceID] = pt
			continue
		}
		if len(dhcpSubs) > 0 {
			reserved = append(reserved, pt)
			continue
		}
		if err := t.DeletePort(ctx, pt.ID); err != nil {
			return err
		}
		t.Emit(neutron.Deleted(neutron.KindPort, pt.ID))
	}
	// A host takes back a port it held, else the oldest (two servers
	// pick alike).
	slices.SortFunc(reserved, func(a, b *neutron.Port) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	for _, dev := range slices.Sorted(maps.Keys(hosts)) {
		host := hosts[dev]
		pt := have[dev]
		if pt == nil && len(reserved) > 0 {
			i := max(0, slices.IndexFunc(reserved, func(r *neutron.Port) bool { return r.HostID == host }))
			pt = reserved[i]
			reserved = slices.Delete(reserved, i, i+1)
			p.log.Info("dhcp port taken over", "network", n.ID, "port", pt.ID, "from", pt.DeviceID, "host", host)
		}
		if pt == nil {
			if err := p.createDHCPPort(ctx, t, ips, n, dev, host, dhcpSubs); err != nil {
				return err
			}
			continue
		}
		if err := p.updateDHCPPort(ctx, t, ips, n, pt, dhcpSubs, dev, host); err != nil {
			return err
		}
	}
	for _, pt := range reserved {
		if pt.DeviceID == neutron.DeviceIDReservedDHCPPort {
			continue
		}
		p.log.Info("dhcp port reserved", "network", n.ID, "port", pt.ID, "from", pt.DeviceID)
		pt.DeviceID = neutron.DeviceIDReservedDHCPPort
		if err := savePort(ctx, t, pt, pt.RevisionNumber); err != nil {
			return err
		}
	}
	return nil
}

// dhcpAddresses asks IPAM for the port's addresses: keep (already held)
// plus one on each subnet of more, the lowest free one as Neutron gives a
// DHCP port. A subnet without a free address is left out (logged), as a
// Neutron DHCP agent whose port create fails still serves the others: a
// full pool must not fail the subnet or agent change that scheduled it.
func (p *Plugin) dhcpAddresses(ctx context.Context, t *store.Tx, ips *ipam.Allocation, pt *neutron.Port, keep []neutron.FixedIP, more []string) ([]neutron.FixedIP, error) {
	var req []neutron.FixedIPRequest
	for _, f := range keep {
		req = append(req, neutron.FixedIPRequest{SubnetID: f.SubnetID, IPAddress: f.IPAddress})
	}
	for _, s := range more {
		r := ipam.Request{NetworkID: pt.NetworkID, FixedIPs: append(slices.Clone(req), neutron.FixedIPRequest{SubnetID: s}),
			MAC: pt.MACAddress, PortID: pt.ID, PreferNext: true}
		got, err := ips.FixedIPs(ctx, t, r)
		if ne, ok := neutron.AsError(err); ok && ne.Type == "IpAddressGenerationFailure" {
			p.log.Warn("no address left for the DHCP port", "network", pt.NetworkID, "subnet", s, "port", pt.ID)
			continue
		}
		if err != nil {
			return nil, err
		}
		req = req[:0]
		for _, f := range got {
			req = append(req, neutron.FixedIPRequest{SubnetID: f.SubnetID, IPAddress: f.IPAddress})
		}
	}
	out := make([]neutron.FixedIP, 0, len(req))
	for _, r := range req {
		out = append(out, neutron.FixedIP{SubnetID: r.SubnetID, IPAddress: r.IPAddress})
	}
	neutron.SortFixedIPs(out)
	return out, nil
}

// createDHCPPort creates the DHCP port of the agent on host, owned by the
// network's project as Neutron's agent creates it.
func (p *Plugin) createDHCPPort(ctx context.Context, t *store.Tx, ips *ipam.Allocation, n *neutron.Network, deviceID, host string, dhcpSubs []string) error {
	now := t.Now()
	pt := &neutron.Port{
		Standard:  neutron.Standard{ID: store.NewID(), ProjectID: n.ProjectID, Tags: []string{}, CreatedAt: now, UpdatedAt: now, RevisionNumber: 1},
		NetworkID: n.ID, DeviceID: deviceID, DeviceOwner: neutron.DeviceOwnerDHCP, Status: neutron.StatusDown, AdminStateUp: true,
		AllowedAddressPairs: []neutron.AddressPair{}, PortSecurityEnabled: n.PortSecurityEnabled, SecurityGroups: []string{},
	}
	pt.HostID, pt.VNICType, pt.Profile = host, "normal", json.RawMessage("{}")
	var err error
	if pt.MACAddress, err = p.randMAC(); err != nil {
		return err
	}
	if pt.FixedIPs, err = p.dhcpAddresses(ctx, t, ips, pt, nil, dhcpSubs); err != nil {
		return err
	}
	if err := p.bind(ctx, t, pt, n.Segments); err != nil {
		return err
	}
	if err := t.InsertPort(ctx, pt); err != nil {
		return err
	}
	t.Emit(neutron.Created(pt))
	return nil
}

// updateDHCPPort gives an existing DHCP port an address on every
// DHCP-enabled subnet and none on the others, and the agent's device_id
// and host.
func (p *Plugin) updateDHCPPort(ctx context.Context, t *store.Tx, ips *ipam.Allocation, n *neutron.Network, pt *neutron.Port, dhcpSubs []string, deviceID, host string) error {
	wanted := map[string]bool{}
	for _, s := range dhcpSubs {
		wanted[s] = true
	}
	var keep []neutron.FixedIP
	has := map[string]bool{}
	for _, f := range pt.FixedIPs {
		if wanted[f.SubnetID] {
			keep = append(keep, f)
			has[f.SubnetID] = true
		}
	}
	var more []string
	for _, s := range dhcpSubs {
		if !has[s] {
			more = append(more, s)
		}
	}
	changed := pt.DeviceID != deviceID
	pt.DeviceID = deviceID
	if len(keep) != len(pt.FixedIPs) || len(more) > 0 {
		got, err := p.dhcpAddresses(ctx, t, ips, pt, keep, more)
		if err != nil {
			return err
		}
		if !slices.Equal(got, pt.FixedIPs) {
			if err := t.SetPortIPs(ctx, pt.NetworkID, pt.ID, pt.FixedIPs, got); err != nil {
				return err
			}
			pt.FixedIPs, changed = got, true
		}
	}
	if pt.HostID != host {
		pt.HostID, pt.Status, changed = host, neutron.StatusDown, true
		if err := p.bind(ctx, t, pt, n.Segments); err != nil {
			return err
		}
	}
	if !changed {
		return nil
	}
	return savePort(ctx, t, pt, pt.RevisionNumber)
}

func (p *Plugin) dhcpPerNetwork() int {
	if p.cfg.DHCPAgentsPerNetwork > 0 {
		return p.cfg.DHCPAgentsPerNetwork
	}
	return 1
}

// scheduleNetworkDHCP schedules one network in t (a subnet of it gained
// or lost DHCP, or was deleted).
func (p *Plugin) scheduleNetworkDHCP(ctx context.Context, t *store.Tx, ips *ipam.Allocation, networkID string) error {
	agents, err := p.readDHCPAgents(ctx, t)
	if err != nil {
		return err
	}
	return p.scheduleDHCP(ctx, t, ips, agents, networkID)
}

// scheduleDHCPNetworks schedules, in t, the networks hosted by an agent
// that can no longer serve and (when some agent can) those hosted by
// fewer agents than they should be. It returns how many it looked at.
func (p *Plugin) scheduleDHCPNetworks(ctx context.Context, t *store.Tx, ips *ipam.Allocation, agents map[string]*schedAgent) (int, error) {
	nets, err := p.dhcpNetworksToSchedule(ctx, t, agents)
	if err != nil {
		return 0, err
	}
	for _, id := range nets {
		if err := p.scheduleDHCP(ctx, t, ips, agents, id); err != nil {
			return 0, fmt.Errorf("schedule network %s to dhcp agents: %w", id, err)
		}
	}
	return len(nets), nil
}

// autoScheduleDHCP runs the scheduler, in t, over every network it may
// change after a DHCP agent appeared, came back or changed admin state.
func (p *Plugin) autoScheduleDHCP(ctx context.Context, t *store.Tx, ips *ipam.Allocation) error {
	agents, err := p.readDHCPAgents(ctx, t)
	if err != nil {
		return err
	}
	_, err = p.scheduleDHCPNetworks(ctx, t, ips, agents)
	return err
}

// dhcpNetworksToSchedule lists (sorted, so concurrent schedulers lock
// networks in one order) the networks scheduleDHCPNetworks looks at.
func (p *Plugin) dhcpNetworksToSchedule(ctx context.Context, t *store.Tx, agents map[string]*schedAgent) ([]string, error) {
	bindings, err := t.DHCPBindings(ctx, "", "")
	if err != nil {
		return nil, err
	}
	anyEligible := false
	for _, a := range agents {
		anyEligible = anyEligible || a.Eligible
	}
	nets := map[string]bool{}
	for _, b := range bindings {
		// A deleted agent's networks always go. A dead (silent for the
		// dead limit) or admin-down agent's networks go only when another
		// agent can take them, as Neutron skips rescheduling when no DHCP
		// agent is alive: the only agent, back after a slow restart, finds
		// its networks as it left them.
		if a := agents[b.AgentID]; a == nil || !a.Keeps && anyEligible {
			nets[b.NetworkID] = true
		}
	}
	if anyEligible {
		needing, err := t.NetworksNeedingDHCP(ctx, p.dhcpPerNetwork())
		if err != nil {
			return nil, err
		}
		for _, id := range needing {
			nets[id] = true
		}
	}
	return slices.Sorted(maps.Keys(nets)), nil
}

// RescheduleDHCP moves networks off DHCP agents that died (no heartbeat
// for twice agent_down_time, deadLimit) or were set admin down, when
// another agent can take them (their DHCP ports with them), and places
// networks that
// have fewer DHCP agents than dhcp_agents_per_network, as Neutron's
// periodic DHCP failover check. It returns how many networks it looked
// at. Several servers may run it at once: each network is scheduled under
// its row lock. When nothing is to do it only reads.
func (p *Plugin) RescheduleDHCP(ctx context.Context) (int, error) {
	todo := 0
	err := p.st.Read(ctx, func(t *store.Tx) error {
		agents, err := p.readDHCPAgents(ctx, t)
		if err != nil {
			return err
		}
		nets, err := p.dhcpNetworksToSchedule(ctx, t, agents)
		todo = len(nets)
		return err
	})
	if err != nil || todo == 0 {
		return 0, err
	}
	ips := p.ipam.Begin()
	defer ips.Release()
	n := 0
	_, err = p.st.Write(ctx, func(t *store.Tx) error {
		agents, err := p.readDHCPAgents(ctx, t)
		if err != nil {
			return err
		}
		n, err = p.scheduleDHCPNetworks(ctx, t, ips, agents)
		return err
	})
	return n, err
}

// RunDHCPRescheduler runs RescheduleDHCP every interval until ctx ends
// (Neutron checks every agent_down_time / 2).
func (p *Plugin) RunDHCPRescheduler(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := p.RescheduleDHCP(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("reschedule dhcp networks", "err", err)
		}
	}
}

// DHCPRescheduleInterval is how often the server runs RescheduleDHCP.
func (p *Plugin) DHCPRescheduleInterval() time.Duration { return p.downAft / 2 }

// The dhcp_agent_scheduler extension's writes.

// AddNetworkToDHCPAgent binds a network to a DHCP agent by hand (POST
// /v2.0/agents/{id}/dhcp-networks), beyond dhcp_agents_per_network if the
// admin wants; the agent's DHCP port is created with it when the network
// has DHCP subnets.
func (p *Plugin) AddNetworkToDHCPAgent(ctx context.Context, agentID, networkID string) error {
	ips := p.ipam.Begin()
	defer ips.Release()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		agents, err := p.validDHCPAgent(ctx, t, agentID)
		if err != nil {
			return err
		}
		if err := t.LockNetwork(ctx, networkID); err != nil {
			return err
		}
		bound, err := t.DHCPBindings(ctx, networkID, agentID)
		if err != nil {
			return err
		}
		if len(bound) > 0 {
			return neutron.Conflict("NetworkHostedByDHCPAgent", "The network %s has been already hosted by the DHCP Agent %s.", networkID, agentID)
		}
		b := neutron.DHCPBinding{NetworkID: networkID, AgentID: agentID}
		if err := t.InsertDHCPBinding(ctx, b); err != nil {
			return err
		}
		t.Emit(neutron.Created(b))
		agents[agentID].Load++
		subs, err := t.NetworkSubnets(ctx, networkID)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(subs, func(s neutron.Subnet) bool { return s.EnableDHCP }) {
			// Nothing to serve yet (and no port): the binding waits, as
			// in Neutron, for the network's first DHCP subnet.
			return nil
		}
		return p.scheduleDHCPOpts(ctx, t, ips, agents, networkID, false)
	})
	return err
}

// RemoveNetworkFromDHCPAgent unbinds a network from a DHCP agent (DELETE
// /v2.0/agents/{id}/dhcp-networks/{network_id}) and removes the agent's
// DHCP port on it. As in Neutron, the network is not placed elsewhere at
// once: the periodic check places networks lacking agents.
func (p *Plugin) RemoveNetworkFromDHCPAgent(ctx context.Context, agentID, networkID string) error {
	ips := p.ipam.Begin()
	defer ips.Release()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		if _, err := t.GetAgent(ctx, agentID); err != nil {
			return err
		}
		if err := t.LockNetwork(ctx, networkID); err != nil {
			return err
		}
		removed, err := t.DeleteDHCPBinding(ctx, neutron.DHCPBinding{NetworkID: networkID, AgentID: agentID})
		if err != nil {
			return err
		}
		if !removed {
			return neutron.Conflict("NetworkNotHostedByDhcpAgent", "The network %s is not hosted by the DHCP agent %s.", networkID, agentID)
		}
		t.Emit(neutron.Deleted(neutron.KindDHCPBinding, neutron.DHCPBindingKey(networkID, agentID)))
		agents, err := p.readDHCPAgents(ctx, t)
		if err != nil {
			return err
		}
		return p.scheduleDHCPOpts(ctx, t, ips, agents, networkID, false)
	})
	return err
}

// validDHCPAgent reads the DHCP agents and checks that id is one that may
// host networks (Neutron's InvalidDHCPAgent, a 404, otherwise).
func (p *Plugin) validDHCPAgent(ctx context.Context, t *store.Tx, id string) (map[string]*schedAgent, error) {
	if _, err := t.GetAgent(ctx, id); err != nil {
		return nil, err
	}
	agents, err := p.readDHCPAgents(ctx, t)
	if err != nil {
		return nil, err
	}
	if a := agents[id]; a == nil || !a.Eligible {
		return nil, neutron.Errorf(404, "InvalidDHCPAgent", "Agent %s is not a valid DHCP Agent or has been disabled.", id)
	}
	return agents, nil
}

// DHCPBindings lists DHCP agent bindings of a network or an agent (the
// dhcp_agent_scheduler extension's reads); an unknown agent is 404.
func (p *Plugin) DHCPBindings(ctx context.Context, networkID, agentID string) ([]neutron.DHCPBinding, error) {
	if agentID != "" {
		if _, err := p.st.GetAgent(ctx, agentID); err != nil {
			return nil, err
		}
	}
	return p.st.DHCPBindings(ctx, networkID, agentID)
}
