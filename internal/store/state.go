package store

import (
	"context"

	"neutrino/internal/neutron"
)

// State is a consistent read, in one transaction, of what the agents'
// stream derives its views from, with the revision it is consistent
// with. Agents' Alive is left to the caller (it depends on the clock and
// agent_down_time).
func (s *Store) State(ctx context.Context) (*neutron.State, error) {
	var st neutron.State
	err := s.Read(ctx, func(t *Tx) error {
		var err error
		if st.Revision, err = t.Revision(ctx); err != nil {
			return err
		}
		if st.Networks, err = t.ListNetworks(ctx, neutron.ListQuery{}); err != nil {
			return err
		}
		if st.Ports, err = t.ListPorts(ctx, neutron.ListQuery{}); err != nil {
			return err
		}
		if st.Agents, err = t.ListAgents(ctx, neutron.ListQuery{}); err != nil {
			return err
		}
		if st.Endpoints, err = t.ListEndpoints(ctx); err != nil {
			return err
		}
		if st.Subnets, err = t.ListSubnets(ctx, neutron.ListQuery{}); err != nil {
			return err
		}
		if st.DHCPBindings, err = t.DHCPBindings(ctx, "", ""); err != nil {
			return err
		}
		if st.L3Bindings, err = t.L3Bindings(ctx, "", ""); err != nil {
			return err
		}
		if st.SecurityGroups, err = t.ListSecurityGroups(ctx, neutron.ListQuery{}); err != nil {
			return err
		}
		if st.Routers, err = t.ListRouters(ctx, neutron.ListQuery{}); err != nil {
			return err
		}
		if st.FloatingIPs, err = t.ListFloatingIPs(ctx, neutron.ListQuery{}); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}
