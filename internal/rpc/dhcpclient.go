package rpc

import (
	"context"
	"fmt"

	"neutrino/internal/dhcp"
	"neutrino/internal/dhcpview"
	"neutrino/internal/rpc/pb"
)

// DHCPUpdate is one message of the DHCP agents' stream, decoded: exactly
// one of Snapshot and Delta is set.
type DHCPUpdate struct {
	Revision int64
	Prev     int64 // the revision a delta applies on
	Snapshot *dhcp.State
	Delta    *dhcpview.Delta
}

// WatchDHCP opens one DHCP stream for host, resuming after lastRevision
// (0: from a snapshot), and calls fn for every message until the stream
// breaks, ctx ends or fn fails. It always returns an error; ctx.Err()
// when ctx ended.
func (c *Client) WatchDHCP(ctx context.Context, host string, lastRevision int64, fn func(DHCPUpdate) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.api.WatchDHCP(ctx, &pb.WatchRequest{Host: host, LastRevision: lastRevision})
	if err != nil {
		return fmt.Errorf("watch dhcp: %w", err)
	}
	return receive(ctx, "watch dhcp", stream.Recv, func(m *pb.DHCPWatchMessage) error {
		u := DHCPUpdate{Revision: m.GetRevision(), Prev: m.GetPrevRevision()}
		switch b := m.GetBody().(type) {
		case *pb.DHCPWatchMessage_Snapshot:
			st, err := DHCPStateFromPB(b.Snapshot)
			if err != nil {
				return fmt.Errorf("watch dhcp revision %d: %w", u.Revision, err)
			}
			u.Snapshot = &st
		case *pb.DHCPWatchMessage_Delta:
			d, err := DHCPDeltaFromPB(b.Delta)
			if err != nil {
				return fmt.Errorf("watch dhcp revision %d: %w", u.Revision, err)
			}
			u.Delta = &d
		default:
			return fmt.Errorf("watch dhcp revision %d: message has neither snapshot nor delta", u.Revision)
		}
		return fn(u)
	})
}

var _ dhcp.Source = (*DHCPSource)(nil)

// DHCPSource is the DHCP agent's dhcp.Source over a Client: it keeps the
// state and revision it followed, so each Watch after a broken stream
// resumes where the last one ended (the server replays what was missed,
// or sends a snapshot). Use one per host, from one goroutine.
type DHCPSource struct {
	Client *Client
	f      followed[dhcp.State]
}

// Watch opens one DHCP stream for host and calls fn with the whole state
// after every message (also after the empty delta that confirms a resumed
// state), until the stream breaks, ctx ends or fn fails. A delta that does
// not follow the state held ends the stream and makes the next Watch
// start from a snapshot. It always returns an error; ctx.Err() when ctx
// ended.
func (s *DHCPSource) Watch(ctx context.Context, host string, fn func(dhcp.State) error) error {
	return s.Client.WatchDHCP(ctx, host, s.f.rev, func(u DHCPUpdate) error {
		if err := takeMessage(&s.f, "dhcp", u.Revision, u.Prev, u.Snapshot, u.Delta, dhcpview.Apply); err != nil {
			return err
		}
		return fn(s.f.st)
	})
}

// Revision is the revision of the state the source holds (0: none yet).
func (s *DHCPSource) Revision() int64 { return s.f.rev }

// followed is the state a source followed on its stream and the
// revision it is at (0: none; the next stream starts from a snapshot).
type followed[V any] struct {
	st  V
	rev int64
}

// takeMessage takes one stream message into f: a snapshot replaces the state,
// a delta must apply on the revision held. On a delta that does not
// follow, f forgets its revision, so the next stream starts from a
// snapshot.
func takeMessage[V, D any](f *followed[V], what string, rev, prev int64, snapshot *V, delta *D, apply func(V, D) (V, error)) error {
	switch {
	case snapshot != nil:
		f.st, f.rev = *snapshot, rev
	case prev != f.rev:
		err := fmt.Errorf("%s delta %d->%d does not follow the state at %d", what, prev, rev, f.rev)
		f.rev = 0
		return err
	default:
		next, err := apply(f.st, *delta)
		if err != nil {
			f.rev = 0
			return err
		}
		f.st, f.rev = next, rev
	}
	return nil
}
