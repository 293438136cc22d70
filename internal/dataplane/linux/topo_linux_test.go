package linux_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/lab"
)

// mode is how BUM traffic is carried, chosen as Neutron chooses it.
type mode int

const (
	modeMesh     mode = iota // neither l2population nor vxlan_group: every other VTEP
	modeGroup                // vxlan_group, no l2population: multicast
	modeL2Pop                // l2population: only VTEPs hosting the network
	modeL2PopARP             // l2population + arp_responder
)

func (m mode) String() string {
	return [...]string{"full-mesh", "multicast-group", "l2population", "l2population+arp_responder"}[m]
}

var group = netip.MustParseAddr("239.1.1.1")

type tnet struct {
	ID     string
	VNI    uint32
	Subnet netip.Prefix
}

type tvm struct {
	name, node string
	net        *tnet
	port, mac  string
	addr       netip.Prefix
	vm         *lab.VM
}

// topo is a lab plus a Linux data plane per node; the test plays the
// agent and the server: it computes each node's NodeState by hand.
type topo struct {
	t     *testing.T
	ctx   context.Context
	lab   *lab.Lab
	mode  mode
	names []string
	dps   map[string]*linux.Dataplane
	nets  []*tnet
	vms   []*tvm
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test builds network namespaces and needs root: run `make test` (as root)")
	}
}

func newTopo(t *testing.T, m mode, nodes ...string) *topo {
	t.Helper()
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	l, err := lab.New(ctx, nil)
	if err != nil {
		cancel()
		t.Fatalf("lab: %v", err)
	}
	tp := &topo{t: t, ctx: ctx, lab: l, mode: m, dps: map[string]*linux.Dataplane{}}
	t.Cleanup(func() {
		for _, d := range tp.dps {
			d.Close()
		}
		if err := l.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
		cancel()
		assertNoLeftovers(t, l.Prefix)
	})
	for _, n := range nodes {
		node, err := l.AddNode(ctx, n)
		if err != nil {
			t.Fatalf("node %s: %v", n, err)
		}
		dp, err := linux.New(linux.Options{NetNS: node.NS})
		if err != nil {
			t.Fatalf("dataplane %s: %v", n, err)
		}
		tp.dps[n] = dp
		tp.names = append(tp.names, n)
	}
	return tp
}

// assertNoLeftovers fails the test if a namespace of the lab survived.
func assertNoLeftovers(t *testing.T, prefix string) {
	t.Helper()
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
}

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%x", b)[:n]
}

func uuid() string {
	h := randHex(32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (tp *topo) addNet(vni uint32, subnet string) *tnet {
	n := &tnet{ID: uuid(), VNI: vni, Subnet: netip.MustParsePrefix(subnet)}
	tp.nets = append(tp.nets, n)
	return n
}

// plug creates the port (by hand) and plugs a VM (or, router=true, the
// router-like namespace) into node with host number host of the subnet.
func (tp *topo) plug(name, node string, n *tnet, host int, router bool) *tvm {
	tp.t.Helper()
	a := n.Subnet.Addr().As4()
	a[3] = byte(host)
	v := &tvm{name: name, node: node, net: n, port: uuid(), mac: "fa:16:3e:" + randHex(2) + ":" + randHex(2) + ":" + randHex(2),
		addr: netip.PrefixFrom(netip.AddrFrom4(a), n.Subnet.Bits())}
	vif := lab.VIF{PortID: v.port, MAC: v.mac, Addr: v.addr, MTU: 1450}
	var err error
	if router {
		v.vm, err = tp.lab.AddRouter(tp.ctx, tp.lab.Node(node), name, vif)
	} else {
		v.vm, err = tp.lab.AddVM(tp.ctx, tp.lab.Node(node), name, vif)
	}
	if err != nil {
		tp.t.Fatalf("plug %s: %v", name, err)
	}
	tp.vms = append(tp.vms, v)
	return v
}

func (tp *topo) unplug(v *tvm) {
	tp.t.Helper()
	if err := tp.lab.RemoveVM(tp.ctx, v.vm); err != nil {
		tp.t.Fatalf("unplug %s: %v", v.name, err)
	}
	tp.vms = slices.DeleteFunc(tp.vms, func(x *tvm) bool { return x == v })
}

// desired is what the agent on node would compute from the server's view.
func (tp *topo) desired(node string) dataplane.NodeState {
	self := tp.lab.Node(node).IP()
	s := dataplane.NodeState{LocalIP: self, UDPPort: 4789, Networks: map[string]dataplane.Network{},
		Ports: map[string]dataplane.LocalPort{}}
	for _, v := range tp.vms {
		if v.node == node {
			s.Ports[v.port] = dataplane.LocalPort{ID: v.port, NetworkID: v.net.ID, MAC: v.mac}
		}
	}
	for _, n := range tp.nets {
		hosted := false
		var flood []netip.Addr
		var ents []dataplane.Entry
		for _, v := range tp.vms {
			if v.net != n {
				continue
			}
			if v.node == node {
				hosted = true
				continue
			}
			vtep := tp.lab.Node(v.node).IP()
			if !slices.Contains(flood, vtep) {
				flood = append(flood, vtep)
			}
			ents = append(ents, dataplane.Entry{MAC: v.mac, IP: v.addr.Addr(), VTEP: vtep})
		}
		if !hosted {
			continue
		}
		dn := dataplane.Network{ID: n.ID, VNI: n.VNI, MTU: 1450}
		switch tp.mode {
		case modeMesh:
			for _, o := range tp.names {
				if o != node {
					dn.Flood = append(dn.Flood, tp.lab.Node(o).IP())
				}
			}
		case modeGroup:
			dn.Group = group
		case modeL2Pop, modeL2PopARP:
			dn.L2Pop, dn.Flood, dn.Entries = true, flood, ents
			dn.ARPResponder = tp.mode == modeL2PopARP
		}
		s.Networks[n.ID] = dn
	}
	return s
}

func (tp *topo) apply() {
	tp.t.Helper()
	for _, n := range tp.names {
		if err := tp.dps[n].Apply(tp.ctx, tp.desired(n)); err != nil {
			tp.t.Fatalf("apply on %s: %v", n, err)
		}
	}
}

func (tp *topo) ping(from *tvm, to netip.Addr) error {
	_, err := lab.Exec(tp.ctx, from.vm.NS, "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", to.String())
	return err
}
