//go:build !linux

package ovs

import "errors"

// socket needs Linux's stat fields; elsewhere the package builds (its
// planners are pure) but drives no bridge.
func (d *Dataplane) socket(string) (socketID, error) {
	return socketID{}, errors.New("ovs: the OVS data plane runs on Linux only")
}
