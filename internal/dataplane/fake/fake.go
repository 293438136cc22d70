// Package fake is an in-memory data plane: it records every NodeState it
// is asked to apply and serves a device list the test sets. Unit tests and
// the convergence scale run use it in place of the kernel or OVS.
package fake

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"neutrino/internal/dataplane"
)

// Dataplane is a fake dataplane.Dataplane. Its methods are safe for
// concurrent use (the agent calls them from one goroutine; tests read).
type Dataplane struct {
	mu       sync.Mutex
	applied  dataplane.NodeState
	has      bool
	applies  int
	devices  map[string]dataplane.Device
	applyErr error
	devErr   error
	closed   bool
	resyncs  int
	drifted  bool
	events   dataplane.Events
	// OnApply, when set, is called after each successful Apply with a
	// private copy of the state applied. Set it before the agent starts.
	OnApply func(dataplane.NodeState)
}

// New returns an empty fake data plane.
func New() *Dataplane {
	return &Dataplane{devices: map[string]dataplane.Device{}, events: dataplane.NewEvents()}
}

var (
	_ dataplane.DeviceNotifier = (*Dataplane)(nil)
	_ dataplane.Resyncer       = (*Dataplane)(nil)
)

// Resync counts the agent's requests for a full read-back
// (dataplane.Resyncer); the fake has no record to drop.
func (d *Dataplane) Resync() {
	d.mu.Lock()
	d.resyncs++
	d.mu.Unlock()
}

// Resyncs counts Resync calls.
func (d *Dataplane) Resyncs() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.resyncs
}

// Drifted returns what SetDrifted set; a successful Apply clears it, as a
// real data plane's read-back does.
func (d *Dataplane) Drifted() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.drifted
}

// SetDrifted makes Drifted report a stale record (a restarted switch).
func (d *Dataplane) SetDrifted(v bool) {
	d.mu.Lock()
	d.drifted = v
	d.mu.Unlock()
}

// DeviceEvents is the channel Notify signals (dataplane.DeviceNotifier).
func (d *Dataplane) DeviceEvents() <-chan struct{} { return d.events }

// Notify emits one device event, as a real data plane does when a device
// appears, goes or changes. SetDevice and RemoveDevice do not notify by
// themselves, so tests choose whether the agent learns of a change by
// event or only by its polling pass.
func (d *Dataplane) Notify() { d.events.Notify() }

// Apply records desired (a deep copy).
func (d *Dataplane) Apply(ctx context.Context, desired dataplane.NodeState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	if d.applyErr != nil {
		err := d.applyErr
		d.mu.Unlock()
		return err
	}
	st := Clone(desired)
	d.applied, d.has, d.drifted = st, true, false
	d.applies++
	hook := d.OnApply
	d.mu.Unlock()
	if hook != nil {
		hook(st)
	}
	return nil
}

// Devices returns the devices set with SetDevice, sorted by name.
func (d *Dataplane) Devices(ctx context.Context) ([]dataplane.Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.devErr != nil {
		return nil, d.devErr
	}
	out := slices.Collect(maps.Values(d.devices))
	slices.SortFunc(out, func(a, b dataplane.Device) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Close marks the data plane closed.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	return nil
}

// SetDevice adds or replaces a device (by name).
func (d *Dataplane) SetDevice(dev dataplane.Device) {
	d.mu.Lock()
	d.devices[dev.Name] = dev
	d.mu.Unlock()
}

// RemoveDevice removes a device by name.
func (d *Dataplane) RemoveDevice(name string) {
	d.mu.Lock()
	delete(d.devices, name)
	d.mu.Unlock()
}

// FailApply makes Apply return err (nil: succeed again).
func (d *Dataplane) FailApply(err error) {
	d.mu.Lock()
	d.applyErr = err
	d.mu.Unlock()
}

// FailDevices makes Devices return err (nil: succeed again).
func (d *Dataplane) FailDevices(err error) {
	d.mu.Lock()
	d.devErr = err
	d.mu.Unlock()
}

// Forget drops the recorded state, as if someone flushed the node by
// hand; only the agent's next Apply brings it back.
func (d *Dataplane) Forget() {
	d.mu.Lock()
	d.applied, d.has = dataplane.NodeState{}, false
	d.mu.Unlock()
}

// Applied returns the last state applied and whether there was one.
func (d *Dataplane) Applied() (dataplane.NodeState, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Clone(d.applied), d.has
}

// Applies counts successful Apply calls.
func (d *Dataplane) Applies() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.applies
}

// Closed reports whether Close was called.
func (d *Dataplane) Closed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// Clone deep-copies a NodeState.
func Clone(s dataplane.NodeState) dataplane.NodeState {
	out := s
	out.Tunnels = slices.Clone(s.Tunnels)
	if s.Networks != nil {
		out.Networks = make(map[string]dataplane.Network, len(s.Networks))
		for id, n := range s.Networks {
			n.Flood = slices.Clone(n.Flood)
			n.Entries = slices.Clone(n.Entries)
			out.Networks[id] = n
		}
	}
	if s.Ports != nil {
		out.Ports = maps.Clone(s.Ports)
	}
	return out
}

// Render prints a NodeState as stable text, one object a line, for golden
// tests and for comparing states.
func Render(s dataplane.NodeState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "local_ip %s udp %d\n", addr(s.LocalIP), s.UDPPort)
	for _, t := range sortedAddrs(s.Tunnels) {
		fmt.Fprintf(&b, "tunnel %s\n", t)
	}
	for _, id := range slices.Sorted(maps.Keys(s.Networks)) {
		n := s.Networks[id]
		if n.Provider() {
			fmt.Fprintf(&b, "network %s %s physnet %s vlan %d mtu %d\n", id, n.Type, n.PhysicalNetwork, n.VLAN, n.MTU)
			continue
		}
		fmt.Fprintf(&b, "network %s vni %d mtu %d l2pop %t arp_responder %t group %s\n", id, n.VNI, n.MTU, n.L2Pop, n.ARPResponder, addr(n.Group))
		for _, f := range sortedAddrs(n.Flood) {
			fmt.Fprintf(&b, "  flood %s\n", f)
		}
		es := slices.Clone(n.Entries)
		slices.SortFunc(es, func(a, b dataplane.Entry) int {
			if c := strings.Compare(a.MAC, b.MAC); c != 0 {
				return c
			}
			if c := a.IP.Compare(b.IP); c != 0 {
				return c
			}
			return a.VTEP.Compare(b.VTEP)
		})
		for _, e := range es {
			fmt.Fprintf(&b, "  entry %s %s via %s\n", e.MAC, addr(e.IP), addr(e.VTEP))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.Ports)) {
		p := s.Ports[id]
		fmt.Fprintf(&b, "port %s network %s mac %s\n", id, p.NetworkID, p.MAC)
	}
	renderFirewall(&b, s.Firewall)
	return b.String()
}

// renderFirewall prints the security-group part (nothing for noop
// without an underlay filter).
func renderFirewall(b *strings.Builder, f dataplane.Firewall) {
	if (f.Driver == "" || f.Driver == "noop") && len(f.VTEPs) == 0 {
		return
	}
	fmt.Fprintf(b, "firewall %s\n", f.Driver)
	for _, v := range sortedAddrs(f.VTEPs) {
		fmt.Fprintf(b, "  vtep %s\n", v)
	}
	for _, id := range slices.Sorted(maps.Keys(f.Ports)) {
		p := f.Ports[id]
		fmt.Fprintf(b, "  filter %s network %s mac %s port_security %t stateful %t\n", id, p.NetworkID, p.MAC, p.PortSecurity, p.Stateful)
		for _, a := range p.Allowed {
			fmt.Fprintf(b, "    allow %s %s\n", a.MAC, a.Prefix)
		}
		for _, r := range p.Rules {
			fmt.Fprintf(b, "    rule %s %s proto %d ports %d:%d", r.Direction, r.Ethertype, r.Protocol, r.PortMin, r.PortMax)
			if r.RemotePrefix.IsValid() {
				fmt.Fprintf(b, " from %s", r.RemotePrefix)
			}
			if r.RemoteGroup != "" {
				fmt.Fprintf(b, " group %s", r.RemoteGroup)
			}
			b.WriteString("\n")
		}
	}
	for _, id := range slices.Sorted(maps.Keys(f.RemoteGroups)) {
		fmt.Fprintf(b, "  remote %s", id)
		for _, m := range f.RemoteGroups[id] {
			fmt.Fprintf(b, " %s", m)
		}
		b.WriteString("\n")
	}
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func sortedAddrs(as []netip.Addr) []netip.Addr {
	out := slices.Clone(as)
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}
