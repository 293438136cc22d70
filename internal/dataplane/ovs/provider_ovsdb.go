package ovs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// physnets are the mapped physical networks, sorted.
func (d *Dataplane) physnets() []string { return slices.Sorted(maps.Keys(d.cfg.BridgeMappings)) }

// CheckBridgeMappings reports the mapped provider bridges that do not
// exist. Neutron's agent refuses to start then ("Bridge br-ex for
// physical network physnet1 does not exist. Agent terminated!"): the
// bridge and its physical interface are the operator's to make, so the
// agent never creates them.
func (d *Dataplane) CheckBridgeMappings(ctx context.Context) error {
	snap, err := takeSnapshot(ctx, d.cli)
	if err != nil {
		return err
	}
	var errs []error
	for _, physnet := range d.physnets() {
		br := d.cfg.BridgeMappings[physnet]
		if snap.bridges[br] == nil {
			errs = append(errs, fmt.Errorf("bridge %s for physical network %s does not exist (create it and add the physical interface: ovs-vsctl add-br %s -- add-port %s IFACE)", br, physnet, br, br))
		}
	}
	return errors.Join(errs...)
}

// ensurePhysBridges adopts each existing provider bridge (fail_mode
// secure, datapath_type, OpenFlow versions, its internal port) and creates
// the missing patch ports of each pair with a peer that does not exist:
// connectPhysPatches joins them once the drop flows are in place. It
// returns the physnets whose bridge exists; a missing bridge is an error
// and its physnet is skipped, the others go on.
func (d *Dataplane) ensurePhysBridges(ctx context.Context) ([]string, error) {
	if len(d.cfg.BridgeMappings) == 0 {
		return nil, nil
	}
	s, err := takeSnapshot(ctx, d.cli)
	if err != nil {
		return nil, err
	}
	t := &txn{cli: d.cli}
	secure := "secure"
	intBr := s.bridges[d.cfg.IntegrationBridge]
	intPorts := s.portsOf(intBr)
	var ok []string
	var errs []error
	for _, physnet := range d.physnets() {
		name := d.cfg.BridgeMappings[physnet]
		br := s.bridges[name]
		if br == nil {
			errs = append(errs, fmt.Errorf("bridge %s for physical network %s does not exist", name, physnet))
			continue
		}
		if intBr == nil {
			continue // ensureBridges failed; nothing to join to
		}
		ok = append(ok, physnet)
		if br.FailMode == nil || *br.FailMode != secure || br.DatapathType != d.cfg.DatapathType || !slices.Equal(br.Protocols, ofProtocols) {
			up := &bridge{UUID: br.UUID, FailMode: &secure, DatapathType: d.cfg.DatapathType, Protocols: ofProtocols}
			t.add(t.cli.Where(up).Update(up, &up.FailMode, &up.DatapathType, &up.Protocols))
			d.log.Info("adopting provider bridge", "bridge", name, "physical_network", physnet)
		}
		intPort, phyPort := PeerPortNames(name)
		if intPorts[intPort] == nil {
			t.createPort(intBr, intPort, "patch", map[string]string{"peer": nonexistentPeer}, nil)
		}
		if s.portsOf(br)[phyPort] == nil {
			t.createPort(br, phyPort, "patch", map[string]string{"peer": nonexistentPeer}, nil)
		}
	}
	errs = append(errs, t.commit(ctx, "ensure provider bridges"))
	return ok, errors.Join(errs...)
}

// connectPhysPatches points each pair of patch ports at each other (or
// corrects a port of another type or peer).
func (d *Dataplane) connectPhysPatches(ctx context.Context, physnets []string) error {
	s, err := takeSnapshot(ctx, d.cli)
	if err != nil {
		return err
	}
	t := &txn{cli: d.cli}
	intBr := s.bridges[d.cfg.IntegrationBridge]
	for _, physnet := range physnets {
		name := d.cfg.BridgeMappings[physnet]
		br := s.bridges[name]
		if br == nil || intBr == nil {
			continue
		}
		intPort, phyPort := PeerPortNames(name)
		d.ensureIface(t, s, intBr, s.portsOf(intBr)[intPort], intPort, "patch", map[string]string{"peer": phyPort}, nil)
		d.ensureIface(t, s, br, s.portsOf(br)[phyPort], phyPort, "patch", map[string]string{"peer": intPort}, nil)
	}
	return t.commit(ctx, "connect provider bridges")
}

// physLayouts waits for the patch ports' ofports of each physnet.
func (d *Dataplane) physLayouts(ctx context.Context, physnets []string) (map[string]PhysLayout, error) {
	out := map[string]PhysLayout{}
	if len(physnets) == 0 {
		return out, nil
	}
	var intNames []string
	for _, physnet := range physnets {
		intPort, _ := PeerPortNames(d.cfg.BridgeMappings[physnet])
		intNames = append(intNames, intPort)
	}
	intOf, err := d.waitOfports(ctx, d.cfg.IntegrationBridge, intNames, false)
	errs := []error{err}
	for _, physnet := range physnets {
		name := d.cfg.BridgeMappings[physnet]
		intPort, phyPort := PeerPortNames(name)
		phyOf, err := d.waitOfports(ctx, name, []string{phyPort}, false)
		errs = append(errs, err)
		out[physnet] = PhysLayout{Bridge: name, Int: intOf[intPort], Phy: phyOf[phyPort]}
	}
	return out, errors.Join(errs...)
}
