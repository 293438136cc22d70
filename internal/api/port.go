package api

import (
	"context"
	"encoding/json"

	"neutrino/internal/neutron"
)

// ports: ML2 with binding, allowed-address-pairs, extra_dhcp_opt and (with
// the port_security extension driver) port security.
func ports(o attrOptions) *table[neutron.Port, neutron.PortCreate, neutron.PortUpdate] {
	type (
		P  = neutron.Port
		PC = neutron.PortCreate
		PU = neutron.PortUpdate
	)
	t := newTable[P, PC, PU]("port", "ports")
	t.standard(func(p *P) *neutron.Standard { return &p.Standard },
		func(c *PC, v string) { c.Name = v }, func(c *PC, v string) { c.Description = v },
		func(u *PU, v string) { u.Name = &v }, func(u *PU, v string) { u.Description = &v })
	// Tags in a POST body are accepted for ports only (tag-ports-during-bulk-creation).
	tags := t.column("tags")
	tags.attribute = po("tags", convTags)
	tags.onCreate(set(func(c *PC, v []string) { c.Tags = v }))
	t.add(po("network_id", convUUID).req(), str(func(p *P) string { return p.NetworkID })).
		onCreate(set(func(c *PC, v string) { c.NetworkID = v }))
	t.add(rw("mac_address", convMAC), str(func(p *P) string { return p.MACAddress })).
		onCreate(set(func(c *PC, v string) { c.MACAddress = v })).
		onUpdate(set(func(u *PU, v string) { u.MACAddress = &v }))
	t.add(rw("fixed_ips", convFixedIPs), listOf(func(p *P) []neutron.FixedIP { return p.FixedIPs }, appendFixedIP)).
		onCreate(set(func(c *PC, v []neutron.FixedIPRequest) { c.FixedIPs = v })).
		onUpdate(set(func(u *PU, v []neutron.FixedIPRequest) { u.FixedIPs = &v }))
	t.add(rw("device_id", convString(255)), str(func(p *P) string { return p.DeviceID })).
		onCreate(set(func(c *PC, v string) { c.DeviceID = v })).
		onUpdate(set(func(u *PU, v string) { u.DeviceID = &v }))
	t.add(rw("device_owner", convString(255)), str(func(p *P) string { return p.DeviceOwner })).
		onCreate(set(func(c *PC, v string) { c.DeviceOwner = v })).
		onUpdate(set(func(u *PU, v string) { u.DeviceOwner = &v }))
	t.add(rw("admin_state_up", convBool), boolean(func(p *P) bool { return p.AdminStateUp })).
		onCreate(set(func(c *PC, v bool) { c.AdminStateUp = &v })).
		onUpdate(set(func(u *PU, v bool) { u.AdminStateUp = &v }))
	t.add(ro("status"), str(func(p *P) string { return p.Status }))
	t.add(rw("allowed_address_pairs", convAddressPairs), listOf(func(p *P) []neutron.AddressPair { return p.AllowedAddressPairs }, appendAddressPair)).
		onCreate(set(func(c *PC, v []neutron.AddressPair) { c.AllowedAddressPairs = v })).
		onUpdate(set(func(u *PU, v []neutron.AddressPair) { u.AllowedAddressPairs = &v }))
	t.add(rw("security_groups", convStringList), strList(func(p *P) []string { return p.SecurityGroups })).
		onCreate(set(func(c *PC, v []string) { c.SecurityGroups = v })).
		onUpdate(set(func(u *PU, v []string) { u.SecurityGroups = &v }))
	t.add(rw("extra_dhcp_opts", convExtraDHCPOpts), listOf(func(p *P) []neutron.ExtraDHCPOpt { return p.ExtraDHCPOpts }, appendExtraDHCPOpt)).
		onCreate(set(func(c *PC, v []neutron.ExtraDHCPOptRequest) { c.ExtraDHCPOpts = v })).
		onUpdate(set(func(u *PU, v []neutron.ExtraDHCPOptRequest) { u.ExtraDHCPOpts = v }))
	t.add(rw("binding:host_id", convString(255)).admin(), str(func(p *P) string { return p.HostID })).
		onCreate(set(func(c *PC, v string) { c.HostID = v })).
		onUpdate(set(func(u *PU, v string) { u.HostID = &v }))
	t.add(rw("binding:profile", convObject).admin(), rawJSON(func(p *P) json.RawMessage { return p.Profile }, "{}")).
		onCreate(set(func(c *PC, v json.RawMessage) { c.Profile = v })).
		onUpdate(set(func(u *PU, v json.RawMessage) { u.Profile = &v }))
	t.add(rw("binding:vnic_type", convVNICType), strDefault(func(p *P) string { return p.VNICType }, "normal")).
		onCreate(set(func(c *PC, v string) { c.VNICType = v })).
		onUpdate(set(func(u *PU, v string) { u.VNICType = &v }))
	t.add(ro("binding:vif_type").adminReadOnly(), strDefault(func(p *P) string { return p.VIFType }, neutron.VIFUnbound))
	t.add(ro("binding:vif_details").adminReadOnly(), rawJSON(func(p *P) json.RawMessage { return p.VIFDetails }, "{}"))
	if o.PortSecurity {
		t.add(rw("port_security_enabled", convBool), boolean(func(p *P) bool { return p.PortSecurityEnabled })).
			onCreate(set(func(c *PC, v bool) { c.PortSecurityEnabled = &v })).
			onUpdate(set(func(u *PU, v bool) { u.PortSecurityEnabled = &v }))
	}
	t.tagged()
	t.facts = func(p *P) entity {
		return entity{id: p.ID, project: p.ProjectID, networkID: p.NetworkID, tags: p.Tags, owner: p.DeviceOwner}
	}
	t.finishCreate = func(c *PC, project string, _ map[string]any) *neutron.Error {
		c.ProjectID = project
		return nil
	}
	t.finishUpdate = func(u *PU, ifRev int64, _ map[string]any) *neutron.Error {
		u.IfRevision = ifRev
		return nil
	}
	return t
}

func portKind(b Backend, o attrOptions) *kind {
	k := ports(o).kind(crud[neutron.Port, neutron.PortCreate, neutron.PortUpdate]{
		get: b.GetPort, list: b.ListPorts, delete: b.DeletePort,
		create: func(ctx context.Context, reqs []neutron.PortCreate) ([]*neutron.Port, error) {
			for i := range reqs {
				reqs[i].AnyProjectGroups = CallerFrom(ctx).Admin
			}
			return b.CreatePorts(ctx, reqs)
		},
		update: func(ctx context.Context, id string, req neutron.PortUpdate) (*neutron.Port, error) {
			req.AnyProjectGroups = CallerFrom(ctx).Admin
			return b.UpdatePort(ctx, id, req)
		}})
	k.onForeignNetwork, k.deniedUpdate = portOnForeignNetwork, deniedPortAttrs
	return k
}

func appendFixedIP(b []byte, f *neutron.FixedIP) []byte {
	o := openObject(b)
	return o.str("subnet_id", f.SubnetID).str("ip_address", f.IPAddress).close()
}

func appendAddressPair(b []byte, p *neutron.AddressPair) []byte {
	o := openObject(b)
	return o.str("ip_address", p.IPAddress).str("mac_address", p.MACAddress).close()
}
