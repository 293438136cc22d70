package agent

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/l2pop"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// ml2Backend is the real plugin on a real database, as neutrino server
// runs it.
type ml2Backend struct {
	*ml2.Plugin
}

func (b ml2Backend) State() *neutron.State {
	st, err := b.Snapshot(context.Background())
	if err != nil {
		panic(err)
	}
	return st
}

type ml2Writer struct {
	p      *ml2.Plugin
	subnet map[string]string
	n      int
}

const project = "b0000000000000000000000000000002"

func (w *ml2Writer) network(t *testing.T, name string) string {
	ctx := context.Background()
	n, err := w.p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: project, Name: name})
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	w.n++
	s, err := w.p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: project, NetworkID: n.ID, IPVersion: 4,
		CIDR: "192.168." + string(rune('0'+w.n)) + ".0/24"})
	if err != nil {
		t.Fatalf("create subnet: %v", err)
	}
	w.subnet[n.ID] = s.ID
	return n.ID
}

func (w *ml2Writer) port(t *testing.T, network, host string) (string, string) {
	p, err := w.p.CreatePort(context.Background(), neutron.PortCreate{ProjectID: project, NetworkID: network,
		DeviceOwner: "compute:nova", DeviceID: "vm", HostID: host})
	if err != nil {
		t.Fatalf("create port on %s: %v", host, err)
	}
	if p.VIFType != neutron.VIFOVS {
		t.Fatalf("port on %s bound as %q, want ovs", host, p.VIFType)
	}
	return p.ID, p.MACAddress
}

func (w *ml2Writer) deletePort(t *testing.T, id string) {
	if err := w.p.DeletePort(context.Background(), id); err != nil {
		t.Fatalf("delete port: %v", err)
	}
}

// TestAgentsOnML2 runs the restart scenario on the real ML2 plugin over
// SQLite: binding, device up/down, the change log and its tail.
func TestAgentsOnML2(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	cfg := &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"},
		MechanismDrivers: []string{"openvswitch", "l2population"}, VNIRanges: []config.Range{{Min: 1001, Max: 2000}}}
	p, err := ml2.New(context.Background(), st, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runRestartScenario(t, ml2Backend{p}, &ml2Writer{p: p, subnet: map[string]string{}}, l2pop.Config{Enabled: true})
}

// TestAgentImportsNoDatabase guards the boundary: the agent (and what it
// pulls in) never links database/sql, a SQL driver, the store or the plugin.
func TestAgentImportsNoDatabase(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "neutrino/internal/agent").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		// database/sql/driver is only interfaces (google/uuid implements
		// them); database/sql itself is the database layer.
		if dep == "database/sql" {
			t.Errorf("internal/agent depends on %s", dep)
		}
		for _, banned := range []string{"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/go-sql-driver",
			"neutrino/internal/store", "neutrino/internal/ml2", "neutrino/internal/api"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("internal/agent depends on %s", dep)
			}
		}
	}
}
