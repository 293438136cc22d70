package rpc

import (
	"context"
	"fmt"

	"neutrino/internal/l3"
	"neutrino/internal/l3view"
	"neutrino/internal/rpc/pb"
)

// L3Update is one message of the L3 agents' stream, decoded: exactly one
// of Snapshot and Delta is set.
type L3Update struct {
	Revision int64
	Prev     int64 // the revision a delta applies on
	Snapshot *l3.State
	Delta    *l3view.Delta
}

// WatchL3 opens one L3 stream for host, resuming after lastRevision (0:
// from a snapshot), and calls fn for every message until the stream
// breaks, ctx ends or fn fails. It always returns an error; ctx.Err() when
// ctx ended.
func (c *Client) WatchL3(ctx context.Context, host string, lastRevision int64, fn func(L3Update) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.api.WatchL3(ctx, &pb.WatchRequest{Host: host, LastRevision: lastRevision})
	if err != nil {
		return fmt.Errorf("watch l3: %w", err)
	}
	return receive(ctx, "watch l3", stream.Recv, func(m *pb.L3WatchMessage) error {
		u := L3Update{Revision: m.GetRevision(), Prev: m.GetPrevRevision()}
		switch b := m.GetBody().(type) {
		case *pb.L3WatchMessage_Snapshot:
			st, err := L3StateFromPB(b.Snapshot)
			if err != nil {
				return fmt.Errorf("watch l3 revision %d: %w", u.Revision, err)
			}
			u.Snapshot = &st
		case *pb.L3WatchMessage_Delta:
			d, err := L3DeltaFromPB(b.Delta)
			if err != nil {
				return fmt.Errorf("watch l3 revision %d: %w", u.Revision, err)
			}
			u.Delta = &d
		default:
			return fmt.Errorf("watch l3 revision %d: message has neither snapshot nor delta", u.Revision)
		}
		return fn(u)
	})
}

var _ l3.StatusReporter = (*Client)(nil)

// UpdateFloatingIPStatuses reports the statuses (floating IP id ->
// ACTIVE, DOWN or ERROR) of the floating IPs the L3 agent on host handles
// (l3.StatusReporter).
func (c *Client) UpdateFloatingIPStatuses(ctx context.Context, host string, statuses map[string]string) error {
	if _, err := c.api.UpdateFloatingIPStatuses(ctx, &pb.FloatingIPStatusesRequest{Host: host, Statuses: statuses}); err != nil {
		return fmt.Errorf("update_floatingip_statuses from %s: %w", host, err)
	}
	return nil
}

var _ l3.Source = (*L3Source)(nil)

// L3Source is the L3 agent's l3.Source over a Client: it keeps the state
// and revision it followed, so each Watch after a broken stream resumes
// where the last one ended (the server replays what was missed, or sends a
// snapshot). Use one per host, from one goroutine.
type L3Source struct {
	Client *Client
	f      followed[l3.State]
}

// Watch opens one L3 stream for host and calls fn with the whole state
// after every message (also after the empty delta that confirms a resumed
// state), until the stream breaks, ctx ends or fn fails. A delta that does
// not follow the state held ends the stream and makes the next Watch start
// from a snapshot. It always returns an error; ctx.Err() when ctx ended.
func (s *L3Source) Watch(ctx context.Context, host string, fn func(l3.State) error) error {
	return s.Client.WatchL3(ctx, host, s.f.rev, func(u L3Update) error {
		if err := takeMessage(&s.f, "l3", u.Revision, u.Prev, u.Snapshot, u.Delta, l3view.Apply); err != nil {
			return err
		}
		return fn(s.f.st)
	})
}

// Revision is the revision of the state the source holds (0: none yet).
func (s *L3Source) Revision() int64 { return s.f.rev }
