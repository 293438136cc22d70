package ovs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/client"

	"neutrino/internal/dataplane"
)

// VIFs plugs devices into the integration bridge the way os-vif and
// Neutron's OVS interface driver do: a port named after the device whose
// interface carries external_ids iface-id (the Neutron port), attached-mac
// and iface-status=active. The OVS agent on the node then finds the port
// and tags it like any VM port. The DHCP agent plugs its taps with it.
type VIFs struct {
	cli    client.Client
	bridge string
}

// NewVIFs connects to OVSDB (ovsdb_connection) for plugging into bridge.
func NewVIFs(ctx context.Context, ovsdb, bridge string, log *slog.Logger) (*VIFs, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dbModel, err := clientModel()
	if err != nil {
		return nil, fmt.Errorf("ovs vifs: model: %w", err)
	}
	lg := logr.FromSlogHandler(log.With("component", "libovsdb").Handler())
	cli, err := client.NewOVSDBClient(dbModel, client.WithEndpoint(ovsdb), client.WithLogger(&lg),
		client.WithReconnect(30*time.Second, backoff.NewExponentialBackOff(backoff.WithMaxElapsedTime(0))))
	if err != nil {
		return nil, fmt.Errorf("ovs vifs: ovsdb client %s: %w", ovsdb, err)
	}
	if err := cli.Connect(ctx); err != nil {
		return nil, fmt.Errorf("ovs vifs: connect %s: %w", ovsdb, err)
	}
	if _, err := cli.Monitor(ctx, cli.NewMonitor(monitorOptions()...)); err != nil {
		cli.Close()
		return nil, fmt.Errorf("ovs vifs: monitor %s: %w", ovsdb, err)
	}
	return &VIFs{cli: cli, bridge: bridge}, nil
}

// Close ends the OVSDB session; plugged ports stay.
func (v *VIFs) Close() { v.cli.Close() }

// Plug makes dev a port of the bridge with the port's external_ids, or
// corrects them on an existing port. Calling it again changes nothing.
func (v *VIFs) Plug(ctx context.Context, dev, portID, mac string) error {
	return v.plug(ctx, dev, "", portID, mac)
}

// PlugInternal is Plug for an OVS internal port: ovs-vswitchd makes the
// device dev itself (with the userspace datapath, a tap it keeps open),
// which the caller then moves into a namespace, as Neutron's
// OVSInterfaceDriver does for the L3 agent's qr- and qg- devices.
func (v *VIFs) PlugInternal(ctx context.Context, dev, portID, mac string) error {
	return v.PlugInternals(ctx, []dataplane.VIF{{Dev: dev, PortID: portID, MAC: mac}})
}

// PlugInternals is PlugInternal for many devices in ONE transaction (none
// when every port is already as wanted). Each port is looked up by name
// in the OVSDB cache's index, so the cost follows len(vifs), not the
// number of ports on the switch: a restarted L3 agent checks its 3,000
// ports without 3,000 copies of a 3,000-port bridge.
func (v *VIFs) PlugInternals(ctx context.Context, vifs []dataplane.VIF) error {
	return v.plugMany(ctx, "internal", vifs)
}

func (v *VIFs) plug(ctx context.Context, dev, typ, portID, mac string) error {
	return v.plugMany(ctx, typ, []dataplane.VIF{{Dev: dev, PortID: portID, MAC: mac}})
}

func (v *VIFs) plugMany(ctx context.Context, typ string, vifs []dataplane.VIF) error {
	if len(vifs) == 0 {
		return nil
	}
	br := &bridge{Name: v.bridge}
	if err := v.cli.Get(ctx, br); err != nil {
		return fmt.Errorf("plug %s: bridge %s: %w (is the OVS agent running?)", vifs[0].Dev, v.bridge, err)
	}
	var mine map[string]bool // the bridge's port uuids, made only if a port exists
	t := &txn{cli: v.cli}
	what := "plug " + vifs[0].Dev
	if len(vifs) > 1 {
		what = fmt.Sprintf("plug %d ports", len(vifs))
	}
	for _, f := range vifs {
		ext := map[string]string{"iface-id": f.PortID, "attached-mac": f.MAC, "iface-status": "active"}
		p := &port{Name: f.Dev}
		err := v.cli.Get(ctx, p)
		if errors.Is(err, client.ErrNotFound) {
			t.createPort(br, f.Dev, typ, nil, ext)
			continue
		}
		if err != nil {
			return fmt.Errorf("plug %s: read port: %w", f.Dev, err)
		}
		if mine == nil {
			mine = map[string]bool{}
			for _, u := range br.Ports {
				mine[u] = true
			}
		}
		if !mine[p.UUID] {
			return fmt.Errorf("plug %s: the port exists on another bridge than %s", f.Dev, v.bridge)
		}
		if len(p.Interfaces) == 0 {
			return fmt.Errorf("plug %s: port has no interface", f.Dev)
		}
		i := &iface{UUID: p.Interfaces[0]}
		if err := v.cli.Get(ctx, i); err != nil {
			return fmt.Errorf("plug %s: read interface: %w", f.Dev, err)
		}
		want := maps.Clone(i.ExternalIDs)
		if want == nil {
			want = map[string]string{}
		}
		maps.Copy(want, ext)
		if maps.Equal(want, i.ExternalIDs) && i.Type == typ {
			continue
		}
		up := &iface{UUID: i.UUID, ExternalIDs: want, Type: typ}
		t.add(t.cli.Where(up).Update(up, &up.ExternalIDs, &up.Type))
	}
	return t.commit(ctx, what)
}

// Unplug removes dev's port from the bridge; a missing port is not an
// error.
func (v *VIFs) Unplug(ctx context.Context, dev string) error {
	p := &port{Name: dev}
	if err := v.cli.Get(ctx, p); errors.Is(err, client.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("unplug %s: read port: %w", dev, err)
	}
	br := &bridge{Name: v.bridge}
	if err := v.cli.Get(ctx, br); errors.Is(err, client.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("unplug %s: bridge %s: %w", dev, v.bridge, err)
	}
	if !slices.Contains(br.Ports, p.UUID) {
		return nil
	}
	t := &txn{cli: v.cli}
	t.deletePort(br, p)
	return t.commit(ctx, "unplug "+dev)
}
