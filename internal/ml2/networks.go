package ml2

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"neutrino/internal/ipam"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

func generateMAC(base string, rng *rand.Rand) (string, error) { return ipam.GenerateMAC(base, rng) }

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// allocateSegment reserves a provider segment or allocates a tenant one.
func (p *Plugin) allocateSegment(ctx context.Context, t *store.Tx, want *neutron.Segment) (neutron.Segment, error) {
	td := p.types
	if want == nil {
		for _, typ := range td.tenantTypes {
			seg, ok, err := p.allocateOfType(ctx, t, neutron.Segment{NetworkType: typ})
			if err != nil {
				return seg, err
			}
			if ok {
				return seg, nil
			}
		}
		return neutron.Segment{}, noNetworkAvailable()
	}
	s := *want
	if err := td.validateProvider(s); err != nil {
		return s, err
	}
	if s.SegmentationID == 0 {
		seg, ok, err := p.allocateOfType(ctx, t, s)
		if err != nil {
			return seg, err
		}
		if !ok {
			return seg, noNetworkAvailable()
		}
		return seg, nil
	}
	switch s.NetworkType {
	case neutron.TypeVXLAN, neutron.TypeGRE:
		inUse, err := t.ReserveTunnelID(ctx, s.NetworkType, s.SegmentationID)
		if err != nil {
			return s, err
		}
		if inUse {
			return s, neutron.Conflict("TunnelIdInUse", "Unable to create the network. The tunnel ID %d is in use.", s.SegmentationID)
		}
	case neutron.TypeVLAN:
		inUse, err := t.ReserveVLAN(ctx, s.PhysicalNetwork, s.SegmentationID)
		if err != nil {
			return s, err
		}
		if inUse {
			return s, neutron.Conflict("VlanIdInUse", "Unable to create the network. The VLAN %d on physical network %s is in use.", s.SegmentationID, s.PhysicalNetwork)
		}
	}
	return s, nil
}

func noNetworkAvailable() error {
	return neutron.Errorf(503, "NoNetworkAvailable", "Unable to create the network. No tenant network is available for allocation.")
}

// allocateOfType allocates a free id of s.NetworkType (on s.PhysicalNetwork
// for VLAN if given); ok false when the pool is exhausted.
func (p *Plugin) allocateOfType(ctx context.Context, t *store.Tx, s neutron.Segment) (neutron.Segment, bool, error) {
	td := p.types
	switch s.NetworkType {
	case neutron.TypeVXLAN, neutron.TypeGRE:
		rs, allocate := td.vni, t.AllocateVNI
		if s.NetworkType == neutron.TypeGRE {
			rs, allocate = td.gre, t.AllocateGREKey
		}
		if len(rs) == 0 {
			return s, false, nil
		}
		id, ok, err := allocate(ctx)
		s.SegmentationID = id
		return s, ok, err
	case neutron.TypeVLAN:
		physnets := []string{s.PhysicalNetwork}
		if s.PhysicalNetwork == "" {
			physnets = physnets[:0]
			for pn := range td.vlan {
				physnets = append(physnets, pn)
			}
			sort.Strings(physnets)
		}
		for _, pn := range physnets {
			if len(td.vlan[pn]) == 0 {
				continue
			}
			id, ok, err := t.AllocateVLAN(ctx, pn)
			if err != nil {
				return s, false, err
			}
			if ok {
				return neutron.Segment{NetworkType: neutron.TypeVLAN, PhysicalNetwork: pn, SegmentationID: id}, true, nil
			}
		}
		return s, false, nil
	case neutron.TypeFlat:
		if s.PhysicalNetwork == "" {
			return s, false, nil // flat has no tenant pool
		}
		inUse, err := t.ReserveFlat(ctx, s.PhysicalNetwork)
		if err != nil {
			return s, false, err
		}
		if inUse {
			return s, false, neutron.Conflict("FlatNetworkInUse", "Unable to create the flat network. Physical network %s is in use.", s.PhysicalNetwork)
		}
		return s, true, nil
	}
	return s, false, nil
}

func (p *Plugin) releaseSegment(ctx context.Context, t *store.Tx, s neutron.Segment) error {
	switch s.NetworkType {
	case neutron.TypeVXLAN, neutron.TypeGRE:
		return t.ReleaseTunnelID(ctx, s.NetworkType, s.SegmentationID, p.types.segmentInRanges(s))
	case neutron.TypeVLAN:
		return t.ReleaseVLAN(ctx, s.PhysicalNetwork, s.SegmentationID, p.types.segmentInRanges(s))
	case neutron.TypeFlat:
		return t.ReleaseFlat(ctx, s.PhysicalNetwork)
	}
	return nil
}

// CreateNetwork allocates the segment(s) and stores the network.
func (p *Plugin) CreateNetwork(ctx context.Context, req neutron.NetworkCreate) (*neutron.Network, error) {
	return one(p.CreateNetworks(ctx, []neutron.NetworkCreate{req}))
}

// CreateNetworks creates every network of reqs in one transaction (bulk
// create): all of them, in order, or none and the first failure's error.
func (p *Plugin) CreateNetworks(ctx context.Context, reqs []neutron.NetworkCreate) ([]*neutron.Network, error) {
	return createAll(ctx, p, reqs, p.createNetwork)
}

func (p *Plugin) createNetwork(ctx context.Context, t *store.Tx, req neutron.NetworkCreate) (*neutron.Network, error) {
	n := &neutron.Network{
		Standard: neutron.Standard{ID: store.NewID(), Name: req.Name, Description: req.Description, ProjectID: req.ProjectID,
			Tags: []string{}, CreatedAt: t.Now(), UpdatedAt: t.Now(), RevisionNumber: 1},
		AdminStateUp:        deref(req.AdminStateUp, true),
		Shared:              deref(req.Shared, false),
		External:            deref(req.External, false),
		Status:              neutron.StatusActive,
		PortSecurityEnabled: deref(req.PortSecurityEnabled, true),
		Subnets:             []string{},
	}
	var wants []*neutron.Segment
	switch {
	case len(req.Segments) > 0:
		for i := range req.Segments {
			wants = append(wants, &req.Segments[i])
		}
	default:
		wants = []*neutron.Segment{req.Segment}
	}
	for _, w := range wants {
		seg, err := p.allocateSegment(ctx, t, w)
		if err != nil {
			return nil, err
		}
		n.Segments = append(n.Segments, seg)
	}
	n.MTU = p.types.networkMTU(n.Segments)
	if req.MTU != nil {
		if err := p.types.checkMTU(*req.MTU, n.Segments); err != nil {
			return nil, err
		}
		n.MTU = *req.MTU
	}
	if err := t.InsertNetwork(ctx, n); err != nil {
		return nil, err
	}
	t.Emit(neutron.Created(n))
	t.Charge("network", n.ProjectID)
	return n, nil
}

// GetNetwork reads a network.
func (p *Plugin) GetNetwork(ctx context.Context, id string) (*neutron.Network, error) {
	return p.st.GetNetwork(ctx, id)
}

// ListNetworks lists networks.
func (p *Plugin) ListNetworks(ctx context.Context, q neutron.ListQuery) ([]neutron.Network, error) {
	return p.st.ListNetworks(ctx, q)
}

// UpdateNetwork changes a network's mutable attributes.
func (p *Plugin) UpdateNetwork(ctx context.Context, id string, req neutron.NetworkUpdate) (*neutron.Network, error) {
	var out *neutron.Network
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		n, err := t.GetNetwork(ctx, id)
		if err != nil {
			return err
		}
		if err := checkRevision("network", id, req.IfRevision, n.RevisionNumber); err != nil {
			return err
		}
		prev := n.RevisionNumber
		if req.Segment != nil {
			if err := p.updateSegment(ctx, t, n, *req.Segment); err != nil {
				return err
			}
		}
		if req.Name != nil {
			n.Name = *req.Name
		}
		if req.Description != nil {
			n.Description = *req.Description
		}
		if req.AdminStateUp != nil {
			n.AdminStateUp = *req.AdminStateUp
		}
		if req.Shared != nil {
			n.Shared = *req.Shared
		}
		if req.External != nil {
			n.External = *req.External
		}
		if req.PortSecurityEnabled != nil {
			n.PortSecurityEnabled = *req.PortSecurityEnabled
		}
		if req.MTU != nil {
			if err := p.types.checkMTU(*req.MTU, n.Segments); err != nil {
				return err
			}
			n.MTU = *req.MTU
		}
		n.RevisionNumber++
		n.UpdatedAt = t.Now()
		if err := t.UpdateNetwork(ctx, n, prev); err != nil {
			return err
		}
		t.Emit(neutron.Updated(n))
		out = n
		return nil
	})
	return out, err
}

// updateSegment moves a VLAN network to the VLAN id want asks for; any
// other provider change is refused, as Neutron does.
func (p *Plugin) updateSegment(ctx context.Context, t *store.Tx, n *neutron.Network, want neutron.Segment) error {
	cur := neutron.Segment{}
	if len(n.Segments) > 0 {
		cur = n.Segments[0]
	}
	same := (want.NetworkType == "" || want.NetworkType == cur.NetworkType) &&
		(want.PhysicalNetwork == "" || want.PhysicalNetwork == cur.PhysicalNetwork) &&
		(want.SegmentationID == 0 || want.SegmentationID == cur.SegmentationID)
	if !same {
		if cur.NetworkType != neutron.TypeVLAN || len(n.Segments) != 1 {
			return neutron.InvalidInput("Only VLAN type networks can be updated..")
		}
		// A VLAN network may move to another VLAN id of its physnet
		// (the openvswitch/linuxbridge drivers support it).
		if want.NetworkType != "" && want.NetworkType != cur.NetworkType ||
			want.PhysicalNetwork != "" && want.PhysicalNetwork != cur.PhysicalNetwork {
			return neutron.InvalidInput("Only the segmentation_id of a VLAN network can be updated.")
		}
		next := neutron.Segment{NetworkType: neutron.TypeVLAN, PhysicalNetwork: cur.PhysicalNetwork, SegmentationID: want.SegmentationID}
		if err := p.types.validateProvider(next); err != nil {
			return err
		}
		seg, err := p.allocateSegment(ctx, t, &next)
		if err != nil {
			return err
		}
		if err := p.releaseSegment(ctx, t, cur); err != nil {
			return err
		}
		if err := t.SetSegmentationID(ctx, n.ID, 0, seg.SegmentationID); err != nil {
			return err
		}
		n.Segments[0] = seg
	}
	return nil
}

// DeleteNetwork deletes a network, its subnets and its DHCP ports; other
// ports make it 409 NetworkInUse.
func (p *Plugin) DeleteNetwork(ctx context.Context, id string) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		n, err := t.GetNetwork(ctx, id)
		if err != nil {
			return err
		}
		ports, err := t.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {id}}})
		if err != nil {
			return err
		}
		// DHCP ports and floating IPs go with the network (Neutron's
		// auto-delete owners, the floating IP with its port); any
		// other port keeps it.
		var inUse []string
		for _, pt := range ports {
			if pt.DeviceOwner != neutron.DeviceOwnerDHCP && pt.DeviceOwner != neutron.DeviceOwnerFloatingIP {
				inUse = append(inUse, pt.ID)
			}
		}
		if len(inUse) > 0 {
			return neutron.Conflict("NetworkInUse", "Unable to complete operation on network %s. There are one or more ports still in use on the network, id for these ports is: %s.", id, strings.Join(inUse, ","))
		}
		for _, pt := range ports {
			if pt.DeviceOwner == neutron.DeviceOwnerFloatingIP {
				if err := deleteFloatingIPOfPort(ctx, t, pt.DeviceID); err != nil {
					return err
				}
			}
			if err := t.DeletePort(ctx, pt.ID); err != nil {
				return err
			}
			t.Emit(neutron.Deleted(neutron.KindPort, pt.ID))
		}
		bindings, err := t.DHCPBindings(ctx, id, "")
		if err != nil {
			return err
		}
		for _, b := range bindings {
			if _, err := t.DeleteDHCPBinding(ctx, b); err != nil {
				return err
			}
			t.Emit(neutron.Deleted(neutron.KindDHCPBinding, neutron.DHCPBindingKey(b.NetworkID, b.AgentID)))
		}
		for _, sid := range n.Subnets {
			if err := t.DeleteSubnet(ctx, sid); err != nil {
				return err
			}
			t.Emit(neutron.Deleted(neutron.KindSubnet, sid))
		}
		for _, s := range n.Segments {
			if err := p.releaseSegment(ctx, t, s); err != nil {
				return err
			}
		}
		if err := t.DeleteNetwork(ctx, id); err != nil {
			return err
		}
		t.Emit(neutron.Deleted(neutron.KindNetwork, id))
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete network %s: %w", id, err)
	}
	return nil
}

// ReplaceTags sets the tags of a network, subnet or port and bumps its
// revision.
func (p *Plugin) ReplaceTags(ctx context.Context, kind, id string, tags []string) ([]string, error) {
	if tags == nil {
		tags = []string{}
	}
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		switch kind {
		case "network":
			n, err := t.GetNetwork(ctx, id)
			if err != nil {
				return err
			}
			prev := n.RevisionNumber
			n.RevisionNumber++
			n.UpdatedAt = t.Now()
			n.Tags = sortedUnique(tags)
			if err := t.UpdateNetwork(ctx, n, prev); err != nil {
				return err
			}
			if err := t.SetTags(ctx, kind, id, n.Tags); err != nil {
				return err
			}
			t.Emit(neutron.Updated(n))
		case "subnet":
			s, err := t.GetSubnet(ctx, id)
			if err != nil {
				return err
			}
			prev := s.RevisionNumber
			s.RevisionNumber++
			s.UpdatedAt = t.Now()
			s.Tags = sortedUnique(tags)
			if err := t.UpdateSubnet(ctx, s, prev); err != nil {
				return err
			}
			if err := t.SetTags(ctx, kind, id, s.Tags); err != nil {
				return err
			}
			t.Emit(neutron.Updated(s))
		case "port":
			pt, err := t.GetPort(ctx, id)
			if err != nil {
				return err
			}
			prev := pt.RevisionNumber
			pt.RevisionNumber++
			pt.UpdatedAt = t.Now()
			pt.Tags = sortedUnique(tags)
			if err := t.UpdatePort(ctx, pt, prev); err != nil {
				return err
			}
			if err := t.SetTags(ctx, kind, id, pt.Tags); err != nil {
				return err
			}
			t.Emit(neutron.Updated(pt))
		case store.TagKindSecurityGroup:
			return tagSecurityGroup(ctx, t, id, sortedUnique(tags))
		case store.TagKindRouter:
			r, err := t.GetRouter(ctx, id)
			if err != nil {
				return err
			}
			r.Tags = sortedUnique(tags)
			if err := t.SetTags(ctx, kind, id, r.Tags); err != nil {
				return err
			}
			return saveRouter(ctx, t, r, r.RevisionNumber)
		case store.TagKindFloatingIP:
			f, err := t.GetFloatingIP(ctx, id)
			if err != nil {
				return err
			}
			f.Tags = sortedUnique(tags)
			if err := t.SetTags(ctx, kind, id, f.Tags); err != nil {
				return err
			}
			return saveFloatingIP(ctx, t, f, f.RevisionNumber)
		case store.TagKindSubnetPool:
			sp, err := t.GetSubnetPool(ctx, id)
			if err != nil {
				return err
			}
			prev := sp.RevisionNumber
			sp.RevisionNumber++
			sp.UpdatedAt = t.Now()
			sp.Tags = sortedUnique(tags)
			if err := t.UpdateSubnetPool(ctx, sp, prev); err != nil {
				return err
			}
			return t.SetTags(ctx, kind, id, sp.Tags)
		default:
			return neutron.Errorf(404, "HTTPNotFound", "The resource could not be found.")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sortedUnique(tags), nil
}

func sortedUnique(in []string) []string {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
