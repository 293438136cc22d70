package ml2

import (
	"context"

	"neutrino/internal/store"
)

// createAll runs create for each request, in order, inside one store
// transaction: Neutron's native bulk create. Either every resource is
// created or none is, and the error is the first failing item's. Each
// item sees what the earlier ones wrote (their addresses, VNIs, MACs,
// subnets), so a bulk create allocates exactly as the same creates one
// after the other would. A single create is a bulk of one.
func createAll[Req, Res any](ctx context.Context, p *Plugin, reqs []Req, create func(context.Context, *store.Tx, Req) (*Res, error)) ([]*Res, error) {
	var out []*Res
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		out = make([]*Res, 0, len(reqs)) // afresh on every attempt
		for _, r := range reqs {
			v, err := create(ctx, t, r)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// one unwraps the result of a bulk of one.
func one[Res any](out []*Res, err error) (*Res, error) {
	if err != nil {
		return nil, err
	}
	return out[0], nil
}
