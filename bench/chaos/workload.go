package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"neutrino/internal/agent"
	"neutrino/internal/apiclient"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"
)

// project owns everything the workload creates.
const project = "chaos"

// vm is a port bound to a node with a VM namespace plugged into it.
type vm struct {
	name   string
	ns     string
	port   *neutron.Port
	addr   netip.Prefix
	node   *node
	net    *tnet
	stable bool
}

// gateway is the VM's default route: its subnet's gateway_ip (the
// router's interface while the network is attached).
func (v *vm) gateway() netip.Addr {
	a, _ := netip.ParseAddr(v.net.sub.GatewayIP)
	return a
}

// tnet is a tenant network with one IPv4 subnet.
type tnet struct {
	name string
	net  *neutron.Network
	sub  *neutron.Subnet
}

// apiStats counts API outcomes: every failed attempt by "status type"
// (or "transport" when no server answered), and whether the call was
// retried to success in the end.
type apiStats struct {
	mu        sync.Mutex
	calls     int
	failed    map[string]int // every failed attempt
	retriedOK map[string]int // failed attempts of calls that then succeeded
	gaveUp    map[string]int // calls that ended in failure, by last status
}

func newAPIStats() *apiStats {
	return &apiStats{failed: map[string]int{}, retriedOK: map[string]int{}, gaveUp: map[string]int{}}
}

// workload changes ports and networks through the API while faults run.
type workload struct {
	c     *cluster
	r     *rand.Rand
	stats *apiStats
	next  int // round-robin over servers

	gate     sync.Mutex // held by an operation; pause takes it
	mu       sync.Mutex
	nets     []*tnet // churn networks
	vms      []*vm   // churn VMs
	stable   []*vm
	burstNet *tnet
	router   *router
	sg       string   // the project's default security group
	sgRules  []string // the TCP rules sgStep added, oldest first
	allNets  []string // every network created, for the leak check
	seq      int
	errs     []string // workload steps that failed for good
	ops      map[string]int
	steps    []workStep // every step, oldest first
}

// workStep is one workload step and when it ran: what the report names
// next to a probe's loss between faults.
type workStep struct {
	Start, End time.Time
	What       string
}

func newWorkload(c *cluster, seed uint64) *workload {
	return &workload{c: c, r: rand.New(rand.NewPCG(seed, 0x776f726b)), stats: newAPIStats(), ops: map[string]int{}}
}

func statusKey(err error) (string, bool) {
	if e, ok := neutron.AsError(err); ok {
		return fmt.Sprintf("%d %s", e.Status, e.Type), true
	}
	return "transport", false
}

// call runs fn against a server, retrying: a transport error (the server
// is down) moves to the other server, a 503 waits and retries. found,
// when set, is asked after a transport error whether the write happened
// anyway (its response was lost), so that no create runs twice.
func (w *workload) call(ctx context.Context, what string, fn func(*apiclient.Client) error, found func(*apiclient.Client) bool) error {
	deadline := time.Now().Add(120 * time.Second)
	var seen []string
	backoff := 50 * time.Millisecond
	ambiguous := false
	for {
		w.mu.Lock()
		s := w.c.servers[w.next%len(w.c.servers)]
		w.mu.Unlock()
		if ambiguous && found != nil && found(s.api) {
			w.done(seen, true, "")
			return nil
		}
		err := fn(s.api)
		if err == nil {
			w.done(seen, true, "")
			return nil
		}
		key, neutronErr := statusKey(err)
		seen = append(seen, key)
		retry := false
		switch {
		case !neutronErr:
			// The server did not answer (killed, restarting): try the
			// other one. A write may have happened.
			w.mu.Lock()
			w.next++
			w.mu.Unlock()
			retry, ambiguous = true, true
		case key[:3] == "503":
			// The database was unreachable; a commit may still have
			// happened before the connection broke.
			retry, ambiguous = true, true
		case key[:3] == "404" && ambiguous && found == nil:
			// A delete retried after a lost response: already gone.
			seen[len(seen)-1] = deletedBefore
			w.done(seen, true, "")
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err()) // the harness stopped the workload: no outcome
		}
		if !retry || time.Now().After(deadline) {
			w.done(seen, false, key)
			return fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

// deletedBefore is the outcome of a delete retried after its answer was
// lost: the 404 says the first attempt did it.
const deletedBefore = "404 (deleted by the attempt whose answer was lost)"

func (w *workload) done(seen []string, ok bool, last string) {
	w.stats.mu.Lock()
	defer w.stats.mu.Unlock()
	w.stats.calls++
	for _, k := range seen {
		w.stats.failed[k]++
		if ok {
			w.stats.retriedOK[k]++
		}
	}
	if !ok {
		w.stats.gaveUp[last]++
	}
}

func (w *workload) name(kind string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	return fmt.Sprintf("chaos-%s-%d", kind, w.seq)
}

func (w *workload) createNet(ctx context.Context, cidr string) (*tnet, error) {
	t := &tnet{name: w.name("net")}
	err := w.call(ctx, "create network", func(a *apiclient.Client) error {
		n, err := a.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: project, Name: t.name})
		t.net = n
		return err
	}, func(a *apiclient.Client) bool {
		ns, err := a.ListNetworks(ctx, apiclient.Query("name", t.name))
		if err == nil && len(ns) == 1 {
			t.net = &ns[0]
			return true
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.allNets = append(w.allNets, t.net.ID)
	w.mu.Unlock()
	sname := t.name + "-sub"
	err = w.call(ctx, "create subnet", func(a *apiclient.Client) error {
		s, err := a.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: project, NetworkID: t.net.ID, Name: sname, IPVersion: 4, CIDR: cidr})
		t.sub = s
		return err
	}, func(a *apiclient.Client) bool {
		ss, err := a.ListSubnets(ctx, apiclient.Query("name", sname))
		if err == nil && len(ss) == 1 {
			t.sub = &ss[0]
			return true
		}
		return false
	})
	if err != nil {
		return nil, errors.Join(err, w.deleteNet(ctx, t))
	}
	return t, nil
}

func (w *workload) deleteNet(ctx context.Context, t *tnet) error {
	return w.call(ctx, "delete network", func(a *apiclient.Client) error { return a.DeleteNetwork(ctx, t.net.ID) }, nil)
}

// createPort creates a port bound to n (host unset when n is nil).
func (w *workload) createPort(ctx context.Context, t *tnet, n *node) (*neutron.Port, error) {
	name := w.name("port")
	var p *neutron.Port
	req := neutron.PortCreate{ProjectID: project, NetworkID: t.net.ID, Name: name, DeviceOwner: "compute:nova", DeviceID: name}
	if n != nil {
		req.HostID = n.Name
	}
	err := w.call(ctx, "create port", func(a *apiclient.Client) error {
		var err error
		p, err = a.CreatePort(ctx, req)
		return err
	}, func(a *apiclient.Client) bool {
		ps, err := a.ListPorts(ctx, apiclient.Query("name", name))
		if err == nil && len(ps) == 1 {
			p = &ps[0]
			return true
		}
		return false
	})
	return p, err
}

func (w *workload) deletePort(ctx context.Context, id string) error {
	return w.call(ctx, "delete port", func(a *apiclient.Client) error { return a.DeletePort(ctx, id) }, nil)
}

// plug makes the VM's namespace and interface on its node as Nova's VIF
// driver would (a tap for Linux bridge; the tap on br-int with iface-id
// for Open vSwitch). The OVS step is retried while an OVS fault is
// restarting the node's daemons.
func (w *workload) plug(ctx context.Context, v *vm) error {
	vif := lab.VIF{PortID: v.port.ID, MAC: v.port.MACAddress, Addr: v.addr, MTU: v.net.net.MTU, Gateway: v.gateway()}
	if err := lab.PlugVIF(ctx, v.node.NS, v.ns, vif); err != nil {
		return err
	}
	if v.node.kind != agent.KindOVS {
		return nil
	}
	tap := lab.TapName(v.port.ID)
	return waitUntil(ctx, 60*time.Second, "plug "+tap+" into br-int of "+v.node.Name, func() (bool, string) {
		v.node.mu.Lock()
		defer v.node.mu.Unlock()
		if err := v.node.ovs.PlugVIF(ctx, "br-int", tap, v.port.ID, v.port.MACAddress, v.name); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func (w *workload) unplug(ctx context.Context, v *vm) error {
	if v.node.kind == agent.KindOVS {
		tap := lab.TapName(v.port.ID)
		if err := waitUntil(ctx, 60*time.Second, "unplug "+tap+" from br-int of "+v.node.Name, func() (bool, string) {
			v.node.mu.Lock()
			defer v.node.mu.Unlock()
			if err := v.node.ovs.UnplugVIF(ctx, "br-int", tap); err != nil {
				return false, err.Error()
			}
			return true, ""
		}); err != nil {
			return err
		}
	}
	return lab.UnplugVIF(ctx, v.node.NS, v.ns, v.port.ID)
}

// boot creates a bound port on t at n and plugs a VM for it.
func (w *workload) boot(ctx context.Context, t *tnet, n *node, stable bool) (*vm, error) {
	p, err := w.createPort(ctx, t, n)
	if err != nil {
		return nil, err
	}
	v := &vm{name: p.Name, ns: w.c.lab.Prefix + "-vm-" + p.ID[:8], port: p, node: n, net: t, stable: stable}
	if len(p.FixedIPs) == 0 {
		return nil, errors.Join(fmt.Errorf("port %s has no fixed IP", p.ID), w.deletePort(ctx, p.ID))
	}
	ip := netip.MustParseAddr(p.FixedIPs[0].IPAddress)
	pfx := netip.MustParsePrefix(t.sub.CIDR)
	v.addr = netip.PrefixFrom(ip, pfx.Bits())
	if err := w.plug(ctx, v); err != nil {
		return nil, errors.Join(err, lab.UnplugVIF(ctx, n.NS, v.ns, p.ID), w.deletePort(ctx, p.ID))
	}
	return v, nil
}

// devices lists the ports plugged on each node (what the harness made),
// for the audit. Call while paused.
func (w *workload) devices() map[string][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string][]string{}
	for _, v := range append(append([]*vm(nil), w.stable...), w.vms...) {
		out[v.node.Name] = append(out[v.node.Name], v.port.ID)
	}
	return out
}

// pause waits for the running operation to end and holds the workload.
func (w *workload) pause()  { w.gate.Lock() }
func (w *workload) resume() { w.gate.Unlock() }

// run changes things until stop is closed (the step under way finishes,
// so no VM is left half made) or ctx ends: create a network (up to 3),
// boot a VM on a random node (up to 10), move a VM to another node
// (unplug, rebind, plug), delete a VM, delete a network with its VMs.
func (w *workload) run(ctx context.Context, stop <-chan struct{}) {
	for ctx.Err() == nil {
		select {
		case <-stop:
			return
		default:
		}
		w.gate.Lock()
		start := time.Now()
		op, detail, err := w.step(ctx)
		end := time.Now()
		w.gate.Unlock()
		w.mu.Lock()
		w.ops[op]++
		if detail != "" {
			op += " " + detail
		}
		w.steps = append(w.steps, workStep{Start: start, End: end, What: op})
		if err != nil && ctx.Err() == nil {
			w.errs = append(w.errs, op+": "+err.Error())
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-stop:
		case <-time.After(time.Duration(50+w.r.IntN(100)) * time.Millisecond):
		}
	}
}

// timeline returns the steps run so far.
func (w *workload) timeline() []workStep {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.steps)
}

// step runs one operation and returns its kind (the figures count them by
// kind) and what it touched.
func (w *workload) step(ctx context.Context) (op, detail string, err error) {
	nodes := w.c.nodes
	w.mu.Lock()
	nNets, nVMs := len(w.nets), len(w.vms)
	w.mu.Unlock()
	switch x := w.r.IntN(100); {
	case x >= 94 && w.sg != "":
		op, err := w.sgStep(ctx)
		return op, "on the default group", err
	case nNets == 0 || (nNets < 3 && x < 8):
		cidr := w.freeCIDR()
		t, err := w.createNet(ctx, cidr)
		if err != nil {
			return "create network", cidr, err
		}
		detail := t.name + " " + cidr
		w.mu.Lock()
		w.nets = append(w.nets, t)
		routed := w.router != nil && w.r.IntN(2) == 0
		w.mu.Unlock()
		if routed {
			return "create routed network", detail, w.attach(ctx, t)
		}
		return "create network", detail, nil
	case nNets > 1 && x < 12:
		w.mu.Lock()
		i := w.r.IntN(len(w.nets))
		t := w.nets[i]
		w.nets = append(w.nets[:i], w.nets[i+1:]...)
		var keep, gone []*vm
		for _, v := range w.vms {
			if v.net == t {
				gone = append(gone, v)
			} else {
				keep = append(keep, v)
			}
		}
		w.vms = keep
		attached := w.router != nil && w.router.attached[t.sub.ID]
		w.mu.Unlock()
		var errs []error
		for _, v := range gone {
			errs = append(errs, w.unplug(ctx, v), w.deletePort(ctx, v.port.ID))
		}
		if attached {
			errs = append(errs, w.detach(ctx, t))
		}
		errs = append(errs, w.deleteNet(ctx, t))
		return "delete network", fmt.Sprintf("%s with %d VMs", t.name, len(gone)), errors.Join(errs...)
	case nVMs < 10 && x < 50:
		w.mu.Lock()
		t := w.nets[w.r.IntN(len(w.nets))]
		n := nodes[w.r.IntN(len(nodes))]
		w.mu.Unlock()
		v, err := w.boot(ctx, t, n, false)
		detail := "on " + n.Name + " in " + t.name
		if err == nil {
			w.mu.Lock()
			w.vms = append(w.vms, v)
			w.mu.Unlock()
			detail = v.name + " " + detail
		}
		return "boot vm", detail, err
	case nVMs > 0 && x < 80:
		w.mu.Lock()
		v := w.vms[w.r.IntN(len(w.vms))]
		to := nodes[w.r.IntN(len(nodes))]
		w.mu.Unlock()
		if to == v.node {
			return "move vm (same node)", "", nil
		}
		detail := fmt.Sprintf("%s %s->%s", v.name, v.node.Name, to.Name)
		if err := w.unplug(ctx, v); err != nil {
			return "move vm", detail, err
		}
		err := w.call(ctx, "rebind port", func(a *apiclient.Client) error {
			p, err := a.UpdatePort(ctx, v.port.ID, map[string]any{"binding:host_id": to.Name})
			if err == nil {
				v.port = p
			}
			return err
		}, nil)
		if err != nil {
			// Still bound to the old node: plug it back there.
			return "move vm", detail, errors.Join(err, w.plug(ctx, v))
		}
		w.mu.Lock()
		v.node = to // the harness's record follows the binding
		w.mu.Unlock()
		return "move vm", detail, w.plug(ctx, v)
	case nVMs > 0:
		w.mu.Lock()
		i := w.r.IntN(len(w.vms))
		v := w.vms[i]
		w.vms = append(w.vms[:i], w.vms[i+1:]...)
		w.mu.Unlock()
		return "delete vm", v.name + " on " + v.node.Name, errors.Join(w.unplug(ctx, v), w.deletePort(ctx, v.port.ID))
	}
	return "idle", "", nil
}

// freeCIDR is a 10.200.X.0/24 no live churn network has (a router
// refuses overlapping interfaces).
func (w *workload) freeCIDR() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	used := map[string]bool{}
	for _, t := range w.nets {
		used[t.sub.CIDR] = true
	}
	for i := 0; ; i++ {
		cidr := fmt.Sprintf("10.200.%d.0/24", (w.seq+i)%250)
		if !used[cidr] {
			return cidr
		}
	}
}

// burst creates n unbound ports on the burst network concurrently, then
// deletes them: API writes racing a restart.
func (w *workload) burst(ctx context.Context, n int) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	ids := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := w.createPort(ctx, w.burstNet, nil)
			if err == nil {
				ids[i] = p.ID
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != "" {
			wg.Add(1)
			go func() { defer wg.Done(); _ = w.deletePort(ctx, id) }()
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// knownPorts and knownNets are what the API said exists: every port as
// its last successful create or update returned it, with the node the
// workload bound it to, and every network with its subnet.
func (w *workload) knownPorts() map[string]vm {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]vm{}
	for _, v := range append(append([]*vm(nil), w.stable...), w.vms...) {
		out[v.port.ID] = *v
	}
	return out
}

func (w *workload) knownNets() map[string]*tnet {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]*tnet{w.burstNet.net.ID: w.burstNet}
	for _, v := range w.stable {
		out[v.net.net.ID] = v.net
	}
	for _, t := range w.nets {
		out[t.net.ID] = t
	}
	return out
}

// routerIDs and networkIDs are every router and network the run made.
func (w *workload) routerIDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.router == nil || w.router.id == "" {
		return nil
	}
	return []string{w.router.id}
}

func (w *workload) networkIDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.allNets...)
}
