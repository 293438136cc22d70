package main

import (
	"context"
	"fmt"
	"net/netip"

	"neutrino/internal/apiclient"
	"neutrino/internal/neutron"
)

// router is the workload's one router: its gateway on the external
// network at routerExtIP, interfaces on the stable networks (and on some
// churn networks while they live), and a floating IP on a stable VM.
type router struct {
	id       string
	public   *neutron.Network
	fipID    string
	fipAddr  netip.Addr
	fipVM    *vm
	attached map[string]bool // subnet ids with an interface
}

// setupRouter creates the external network (flat, on the physnet the L3
// agent's node joins; its gateway is the outside namespace) and the
// router with its gateway.
func (w *workload) setupRouter(ctx context.Context) error {
	ext, flat := true, neutron.Segment{NetworkType: "flat", PhysicalNetwork: publicPhysnet}
	r := &router{attached: map[string]bool{}}
	err := w.call(ctx, "create external network", func(a *apiclient.Client) error {
		n, err := a.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: project, Name: "public", External: &ext, Segment: &flat})
		r.public = n
		return err
	}, func(a *apiclient.Client) bool {
		ns, err := a.ListNetworks(ctx, apiclient.Query("name", "public"))
		if err == nil && len(ns) == 1 {
			r.public = &ns[0]
			return true
		}
		return false
	})
	if err != nil {
		return err
	}
	gw, dhcpOff := publicGateway.Addr().String(), false
	err = w.call(ctx, "create external subnet", func(a *apiclient.Client) error {
		_, err := a.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: project, NetworkID: r.public.ID, Name: "public-sub", IPVersion: 4,
			CIDR: publicCIDR.String(), GatewayIP: &gw, EnableDHCP: &dhcpOff})
		return err
	}, func(a *apiclient.Client) bool {
		ss, err := a.ListSubnets(ctx, apiclient.Query("name", "public-sub"))
		return err == nil && len(ss) == 1
	})
	if err != nil {
		return err
	}
	body := map[string]any{"router": map[string]any{"tenant_id": project, "name": "chaos-router",
		"external_gateway_info": map[string]any{"network_id": r.public.ID,
			"external_fixed_ips": []map[string]string{{"ip_address": routerExtIP.String()}}}}}
	err = w.call(ctx, "create router", func(a *apiclient.Client) error {
		var out struct{ Router struct{ ID string } }
		err := a.Do(ctx, "POST", "/v2.0/routers", body, &out)
		r.id = out.Router.ID
		return err
	}, func(a *apiclient.Client) bool {
		var out struct{ Routers []struct{ ID string } }
		if a.Do(ctx, "GET", "/v2.0/routers?name=chaos-router", nil, &out) == nil && len(out.Routers) == 1 {
			r.id = out.Routers[0].ID
			return true
		}
		return false
	})
	if err != nil {
		return err
	}
	w.router = r
	return nil
}

// attach adds a router interface on t's subnet (its gateway_ip).
func (w *workload) attach(ctx context.Context, t *tnet) error {
	r := w.router
	err := w.call(ctx, "add router interface", func(a *apiclient.Client) error {
		return a.Do(ctx, "PUT", "/v2.0/routers/"+r.id+"/add_router_interface", map[string]string{"subnet_id": t.sub.ID}, nil)
	}, func(a *apiclient.Client) bool {
		ps, err := a.ListPorts(ctx, apiclient.Query("device_id", r.id, "network_id", t.net.ID))
		return err == nil && len(ps) == 1
	})
	if err != nil {
		return err
	}
	w.mu.Lock()
	r.attached[t.sub.ID] = true
	w.mu.Unlock()
	return nil
}

// detach removes t's router interface (a 404 after a lost answer: gone).
func (w *workload) detach(ctx context.Context, t *tnet) error {
	r := w.router
	err := w.call(ctx, "remove router interface", func(a *apiclient.Client) error {
		return a.Do(ctx, "PUT", "/v2.0/routers/"+r.id+"/remove_router_interface", map[string]string{"subnet_id": t.sub.ID}, nil)
	}, nil)
	if err != nil {
		return err
	}
	w.mu.Lock()
	delete(r.attached, t.sub.ID)
	w.mu.Unlock()
	return nil
}

// floatingIP associates a floating IP at floatingIP with v's port.
func (w *workload) floatingIP(ctx context.Context, v *vm) error {
	r := w.router
	body := map[string]any{"floatingip": map[string]any{"tenant_id": project, "floating_network_id": r.public.ID,
		"floating_ip_address": floatingIP.String(), "port_id": v.port.ID}}
	err := w.call(ctx, "create floating IP", func(a *apiclient.Client) error {
		var out struct{ Floatingip struct{ ID string } }
		err := a.Do(ctx, "POST", "/v2.0/floatingips", body, &out)
		r.fipID = out.Floatingip.ID
		return err
	}, func(a *apiclient.Client) bool {
		var out struct{ Floatingips []struct{ ID string } }
		if a.Do(ctx, "GET", "/v2.0/floatingips?floating_ip_address="+floatingIP.String(), nil, &out) == nil && len(out.Floatingips) == 1 {
			r.fipID = out.Floatingips[0].ID
			return true
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("floating IP: %w", err)
	}
	r.fipAddr, r.fipVM = floatingIP, v
	return nil
}
