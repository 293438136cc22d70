package linux

import (
	"context"

	"neutrino/internal/dataplane"
)

var _ dataplane.Observer = (*Dataplane)(nil)

// Observe reads back what the kernel holds as facts: a network per
// vxlan-<vni> device enslaved to a brq bridge, flood and unicast entries
// from its static FDB, ARP answers from its permanent neighbours, and
// the taps in those bridges. It changes nothing: it dumps every device
// from the kernel, not from the record Apply diffs against, and leaves
// that record as it was (a hand edit stays for Resync to repair).
func (d *Dataplane) Observe(ctx context.Context) ([]dataplane.Fact, error) {
	d.mu.Lock()
	record := d.installed
	d.installed = map[string]*devEntries{}
	cur, err := d.read()
	d.installed = record
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return observed(cur), nil
}
