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
	st     dhcp.State
	rev    int64
}

// Watch opens one DHCP stream for host and calls fn with the whole state
// after every message (also after the empty delta that confirms a resumed
// state), until the stream breaks, ctx ends or fn fails. A delta that does
// not follow the state held ends the stream and makes the next Watch
// start from a snapshot. It always returns an error; ctx.Err() when ctx
// ended.
func (s *DHCPSource) Watch(ctx context.Context, host string, fn func(dhcp.State) error) error {
	return s.Client.WatchDHCP(ctx, host, s.rev, func(u DHCPUpdate) error {
		switch {
		case u.Snapshot != nil:
			s.st, s.rev = *u.Snapshot, u.Revision
		case u.Prev != s.rev:
			err := fmt.Errorf("dhcp delta %d->%d does not follow the state at %d", u.Prev, u.Revision, s.rev)
			s.rev = 0
			return err
		default:
			next, err := dhcpview.Apply(s.st, *u.Delta)
			if err != nil {
				s.rev = 0
				return err
			}
			s.st, s.rev = next, u.Revision
		}
		return fn(s.st)
	})
}

// Revision is the revision of the state the source holds (0: none yet).
func (s *DHCPSource) Revision() int64 { return s.rev }
