package rpc

import (
	"neutrino/internal/dhcp"
	"neutrino/internal/dhcpview"
	"neutrino/internal/l2pop"
	"neutrino/internal/l3"
	"neutrino/internal/l3view"
	"neutrino/internal/neutron"
)

// The view kinds the server streams, as hub models.

// l2Model is the L2 agents' l2pop view.
type l2Model struct{ m *l2pop.Model }

func newL2Hub(cfg l2pop.Config, logLen int) *hub[l2pop.View, l2pop.Delta] {
	return newHub(func(st *neutron.State) viewModel[l2pop.View, l2pop.Delta] { return l2Model{l2pop.NewModel(cfg, st)} },
		func(host string) l2pop.View { return l2pop.View{Host: host} }, logLen)
}

func (l l2Model) Revision() int64 { return l.m.Revision }

func (l l2Model) Apply(c neutron.Change) (span, error) {
	s, err := l.m.Apply(c)
	return span{all: s.All, hosts: s.Hosts, nets: s.Nets, vteps: s.VTEPs}, err
}

func (l l2Model) Hosts() []string                  { return l.m.Hosts() }
func (l l2Model) HasHost(host string) bool         { return l.m.HasAgent(host) }
func (l l2Model) View(host string) l2pop.View      { return l.m.View(host) }
func (l l2Model) Diff(a, b l2pop.View) l2pop.Delta { return l2pop.Diff(a, b) }
func (l l2Model) ViewSize(v l2pop.View) int        { return v.Size() }

func (l l2Model) Update(_ string, old l2pop.View, nets map[string]struct{}) l2pop.View {
	return l.m.UpdateView(old, nets)
}

func (l l2Model) DeltaSize(d l2pop.Delta) int {
	if d.Empty() {
		return 0
	}
	return max(d.Size(), 1)
}

// dhcpModel is the DHCP agents' state.
type dhcpModel struct{ m *dhcpview.Model }

func newDHCPHub(logLen int) *hub[dhcp.State, dhcpview.Delta] {
	return newHub(func(st *neutron.State) viewModel[dhcp.State, dhcpview.Delta] { return dhcpModel{dhcpview.NewModel(st)} },
		func(string) dhcp.State { return dhcp.State{} }, logLen)
}

func (d dhcpModel) Revision() int64 { return d.m.Revision }

func (d dhcpModel) Apply(c neutron.Change) (span, error) {
	s, err := d.m.Apply(c)
	return span{hosts: s.Hosts, nets: s.Nets}, err
}

func (d dhcpModel) Hosts() []string                     { return d.m.Hosts() }
func (d dhcpModel) HasHost(host string) bool            { return d.m.HasHost(host) }
func (d dhcpModel) View(host string) dhcp.State         { return d.m.View(host) }
func (d dhcpModel) Diff(a, b dhcp.State) dhcpview.Delta { return dhcpview.Diff(a, b) }
func (d dhcpModel) DeltaSize(x dhcpview.Delta) int      { return x.Size() }
func (d dhcpModel) ViewSize(v dhcp.State) int           { return dhcpview.Size(v) }

func (d dhcpModel) Update(host string, old dhcp.State, nets map[string]struct{}) dhcp.State {
	return d.m.UpdateView(host, old, nets)
}

// l3Model is the L3 agents' state.
type l3Model struct{ m *l3view.Model }

func newL3Hub(logLen int) *hub[l3.State, l3view.Delta] {
	return newHub(func(st *neutron.State) viewModel[l3.State, l3view.Delta] { return l3Model{l3view.NewModel(st)} },
		func(string) l3.State { return l3.State{} }, logLen)
}

func (l l3Model) Revision() int64 { return l.m.Revision }

func (l l3Model) Apply(c neutron.Change) (span, error) {
	s, err := l.m.Apply(c)
	return span{hosts: s.Hosts, nets: s.Routers}, err
}

func (l l3Model) Hosts() []string                 { return l.m.Hosts() }
func (l l3Model) HasHost(host string) bool        { return l.m.HasHost(host) }
func (l l3Model) View(host string) l3.State       { return l.m.View(host) }
func (l l3Model) Diff(a, b l3.State) l3view.Delta { return l3view.Diff(a, b) }
func (l l3Model) DeltaSize(x l3view.Delta) int    { return x.Size() }
func (l l3Model) ViewSize(v l3.State) int         { return l3view.Size(v) }

func (l l3Model) Update(host string, old l3.State, routers map[string]struct{}) l3.State {
	return l.m.UpdateView(host, old, routers)
}
