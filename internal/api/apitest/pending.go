//go:build apipending

package apitest

import (
	"context"
	"errors"

	"neutrino/internal/api"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
)

// Temporary while ml2 grows ports and agents (development only, behind
// the apipending build tag).
type pendingBackend struct{ *ml2.Plugin }

var errPending = errors.New("not in ml2 yet")

func backendFor(p *ml2.Plugin) api.Backend { return pendingBackend{p} }

func (pendingBackend) CreatePort(context.Context, neutron.PortCreate) (*neutron.Port, error) {
	return nil, errPending
}
func (pendingBackend) GetPort(context.Context, string) (*neutron.Port, error) { return nil, errPending }
func (pendingBackend) ListPorts(context.Context, neutron.ListQuery) ([]neutron.Port, error) {
	return nil, errPending
}
func (pendingBackend) UpdatePort(context.Context, string, neutron.PortUpdate) (*neutron.Port, error) {
	return nil, errPending
}
func (pendingBackend) DeletePort(context.Context, string) error { return errPending }
func (pendingBackend) GetAgent(context.Context, string) (*neutron.Agent, error) {
	return nil, errPending
}
func (pendingBackend) ListAgents(context.Context, neutron.ListQuery) ([]neutron.Agent, error) {
	return nil, errPending
}
func (pendingBackend) UpdateAgent(context.Context, string, neutron.AgentUpdate) (*neutron.Agent, error) {
	return nil, errPending
}
func (pendingBackend) DeleteAgent(context.Context, string) error { return errPending }
