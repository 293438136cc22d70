package nova

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/keystone"
	"neutrino/internal/neutron"
)

// Source is the change log the notifier follows (ml2.Plugin).
type Source interface {
	Snapshot(ctx context.Context) (*neutron.State, error)
	Changes(ctx context.Context, after int64, limit int) ([]neutron.Change, error)
	Committed() <-chan struct{}
}

// Options configure a Notifier.
type Options struct {
	Which    Which
	Interval time.Duration // send_events_interval: how long events gather before a batch goes
	// Attempts is how often one batch is tried when Nova cannot be reached
	// or fails (5xx); default 5.
	Attempts int
	Logger   *slog.Logger
}

// Notifier follows port changes and posts their events to Nova.
type Notifier struct {
	session *keystone.Session
	nova    config.Nova
	opts    Options
	log     *slog.Logger
	http    *http.Client

	mu      sync.Mutex
	pending []Event
}

// New builds a notifier from [nova]; it contacts Keystone at the first
// batch.
func New(n config.Nova, o Options) (*Notifier, error) {
	c, err := keystone.NewClient(n.Auth.AuthURL, n.Timeout, 2)
	if err != nil {
		return nil, fmt.Errorf("[nova]: %w", err)
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{session: keystone.NewSession(c, n.Auth), nova: n, opts: o, log: o.Logger,
		http: &http.Client{Timeout: n.Timeout}}, nil
}

// Run follows the change log and sends batches until ctx ends.
func (n *Notifier) Run(ctx context.Context, src Source) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.sendLoop(ctx)
	}()
	err := n.follow(ctx, src)
	<-done
	return err
}

// follow turns change-log rows into queued events. It knows every port as
// of its last row, so a status row can be compared with the one before.
func (n *Notifier) follow(ctx context.Context, src Source) error {
	var rev int64
	ports := map[string]*neutron.Port{}
	resync := func() error {
		st, err := src.Snapshot(ctx)
		if err != nil {
			return err
		}
		rev = st.Revision
		clear(ports)
		for i := range st.Ports {
			ports[st.Ports[i].ID] = &st.Ports[i]
		}
		return nil
	}
	for {
		if err := resync(); err == nil {
			break
		} else if ctx.Err() != nil {
			return nil
		} else {
			n.log.Warn("nova notifier: reading ports", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	for {
		// Take the signal before reading, so a commit between the read and
		// the wait is not missed; poll too, as a safety net.
		wake := src.Committed()
		changes, err := src.Changes(ctx, rev, 1000)
		switch {
		case errors.Is(err, neutron.ErrRevisionGone):
			n.log.Warn("nova notifier: fell behind the change log; events in the gap are lost", "revision", rev)
			if err := resync(); err != nil {
				n.log.Warn("nova notifier: reading ports", "err", err)
			}
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			n.log.Warn("nova notifier: reading the change log", "err", err)
		}
		for _, c := range changes {
			rev = c.Revision
			if c.Kind != neutron.KindPort {
				continue
			}
			prev := ports[c.ID]
			var cur *neutron.Port
			if c.Deletion() {
				delete(ports, c.ID)
			} else {
				p, err := neutron.Decode[neutron.Port](c)
				if err != nil {
					n.log.Warn("nova notifier", "err", err)
					continue
				}
				cur = &p
				ports[c.ID] = cur
			}
			if ev := PortEvents(n.opts.Which, prev, cur); len(ev) > 0 {
				n.queue(ev...)
			}
		}
		if len(changes) >= 1000 {
			// A full batch (more when it ends a large transaction):
			// there may be more to read.
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(5 * time.Second):
		}
	}
}

func (n *Notifier) queue(ev ...Event) {
	n.mu.Lock()
	n.pending = append(n.pending, ev...)
	n.mu.Unlock()
}

func (n *Notifier) take() []Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	ev := n.pending
	n.pending = nil
	return ev
}

// sendLoop posts what gathered every Interval, as Neutron's batch
// notifier does; a batch that fails is tried again (with backoff) before
// the next one.
func (n *Notifier) sendLoop(ctx context.Context) {
	t := time.NewTicker(n.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		batch := n.take()
		if len(batch) == 0 {
			continue
		}
		for attempt := 1; ; attempt++ {
			err := n.send(ctx, batch)
			if err == nil {
				break
			}
			if !(errors.Is(err, errRetry) || errors.Is(err, keystone.ErrUnavailable)) || attempt >= n.opts.Attempts {
				n.log.Error("nova notifier: events not delivered", "events", len(batch), "err", err)
				break
			}
			n.log.Warn("nova notifier: sending events failed; retrying", "attempt", attempt, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(attempt) * n.opts.Interval):
			}
		}
	}
}

// errRetry marks failures worth another attempt (Nova or Keystone down).
var errRetry = errors.New("temporary failure")

// send posts one batch to Nova's os-server-external-events.
func (n *Notifier) send(ctx context.Context, batch []Event) error {
	base, err := n.session.Endpoint(ctx, "compute", n.nova.EndpointType, n.nova.Auth.RegionName)
	if err != nil {
		if errors.Is(err, keystone.ErrUnavailable) {
			return fmt.Errorf("%w: %w", errRetry, err)
		}
		return err
	}
	body, _ := json.Marshal(map[string]any{"events": batch})
	return n.session.Do(ctx, func(token string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/os-server-external-events", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("X-Auth-Token", token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := n.http.Do(req)
		if err != nil {
			return fmt.Errorf("%w: %w", errRetry, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		switch {
		case resp.StatusCode == http.StatusOK:
			n.log.Info("nova notifier: events sent", "events", len(batch))
			return nil
		case resp.StatusCode == http.StatusMultiStatus:
			// Some servers are unknown to Nova (deleted meanwhile): Neutron
			// logs them and moves on.
			n.log.Warn("nova notifier: Nova refused some events", "answer", string(data))
			return nil
		case resp.StatusCode == http.StatusNotFound:
			n.log.Warn("nova notifier: Nova knows none of the servers", "answer", string(data))
			return nil
		case resp.StatusCode == http.StatusUnauthorized:
			return keystone.ErrTokenRefused
		case resp.StatusCode >= 500:
			return fmt.Errorf("%w: Nova answered %s: %s", errRetry, resp.Status, data)
		}
		return fmt.Errorf("Nova answered %s: %s", resp.Status, data)
	})
}
