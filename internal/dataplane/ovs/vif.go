package ovs

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/client"
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
	return v.plug(ctx, dev, "internal", portID, mac)
}

func (v *VIFs) plug(ctx context.Context, dev, typ, portID, mac string) error {
	s, err := takeSnapshot(ctx, v.cli)
	if err != nil {
		return err
	}
	br := s.bridges[v.bridge]
	if br == nil {
		return fmt.Errorf("plug %s: bridge %s does not exist (is the OVS agent running?)", dev, v.bridge)
	}
	ext := map[string]string{"iface-id": portID, "attached-mac": mac, "iface-status": "active"}
	t := &txn{cli: v.cli}
	p := s.portsOf(br)[dev]
	if p == nil {
		t.createPort(br, dev, typ, nil, ext)
		return t.commit(ctx, "plug "+dev)
	}
	i := s.firstIface(p)
	if i == nil {
		return fmt.Errorf("plug %s: port has no interface", dev)
	}
	want := maps.Clone(i.ExternalIDs)
	if want == nil {
		want = map[string]string{}
	}
	maps.Copy(want, ext)
	if maps.Equal(want, i.ExternalIDs) && i.Type == typ {
		return nil
	}
	up := &iface{UUID: i.UUID, ExternalIDs: want, Type: typ}
	t.add(t.cli.Where(up).Update(up, &up.ExternalIDs, &up.Type))
	return t.commit(ctx, "plug "+dev)
}

// Unplug removes dev's port from the bridge; a missing port is not an
// error.
func (v *VIFs) Unplug(ctx context.Context, dev string) error {
	s, err := takeSnapshot(ctx, v.cli)
	if err != nil {
		return err
	}
	br := s.bridges[v.bridge]
	if br == nil {
		return nil
	}
	p := s.portsOf(br)[dev]
	if p == nil {
		return nil
	}
	t := &txn{cli: v.cli}
	t.deletePort(br, p)
	return t.commit(ctx, "unplug "+dev)
}
