package linux

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"neutrino/internal/dataplane"
)

// Device events come from a netlink link subscription (RTNLGRP_LINK) in
// the node's namespace: the kernel multicasts every link added, changed
// or removed, so a tap Nova creates is seen at once. Neutron's Linux bridge
// agent only polls; the agent keeps its polling_interval pass as the
// safety net for anything lost here (socket overrun, resubscription).

var _ dataplane.DeviceNotifier = (*Dataplane)(nil)

// DeviceEvents signals when a tap device may have appeared, gone or
// changed (dataplane.DeviceNotifier). The channel is never closed.
func (d *Dataplane) DeviceEvents() <-chan struct{} { return d.events }

// tapMark is what Devices reports of a tap, plus its operational state.
type tapMark struct {
	name string
	mac  string
	up   bool
	oper netlink.LinkOperState
}

// tapChanged updates known (taps by ifindex) with one link message and
// says whether what Devices would report may have changed: a tap
// appeared (also by rename), went, or changed name, MAC, admin or
// operational state. Messages that change nothing of that - the data
// plane enslaving a tap to its bridge, statistics, other links - do not
// count, so an Apply does not wake the agent again.
func tapChanged(known map[int]tapMark, deleted bool, index int, m tapMark) bool {
	prev, had := known[index]
	if deleted || !strings.HasPrefix(m.name, "tap") {
		delete(known, index)
		return had
	}
	known[index] = m
	return !had || prev != m
}

func markOf(l netlink.Link) (int, tapMark) {
	a := l.Attrs()
	return a.Index, tapMark{name: a.Name, mac: a.HardwareAddr.String(), up: a.Flags&net.FlagUp != 0, oper: a.OperState}
}

// watchLinks runs until Close: it keeps a link subscription open in the
// namespace and signals tap changes. When the subscription ends (the
// kernel overran its socket, say) it subscribes again with backoff and
// signals once, as changes may have been missed.
func (d *Dataplane) watchLinks() {
	defer d.wg.Done()
	backoff := 100 * time.Millisecond
	logged := false
	for first := true; ; first = false {
		closed, established, err := d.subscribeLinks(!first)
		if closed {
			return
		}
		if established {
			backoff = 100 * time.Millisecond
		}
		if !logged {
			// Logged once: the polling pass still finds devices.
			d.log.Warn("netlink link subscription failed; device changes are found by polling until it is back", "err", err)
			logged = true
		} else {
			d.log.Debug("netlink link subscription failed", "err", err)
		}
		select {
		case <-d.done:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// subscribeLinks runs one subscription until it ends; closed is true when
// it ended because the data plane was closed, established when it had
// been set up.
func (d *Dataplane) subscribeLinks(again bool) (closed, established bool, err error) {
	var ns *netns.NsHandle
	if d.opts.NetNS != "" {
		fd, err := netns.GetFromName(d.opts.NetNS)
		if err != nil {
			return false, false, fmt.Errorf("open netns %s: %w", d.opts.NetNS, err)
		}
		defer fd.Close()
		ns = &fd
	}
	updates := make(chan netlink.LinkUpdate, 64)
	// stop closes the subscription's socket; closed on Close or once the
	// subscription ended by itself, so the library's goroutines end too.
	stop := make(chan struct{})
	var stopOnce sync.Once
	stopSub := func() { stopOnce.Do(func() { close(stop) }) }
	defer stopSub()
	var cbMu sync.Mutex
	var cbErr error
	err = netlink.LinkSubscribeWithOptions(updates, stop, netlink.LinkSubscribeOptions{
		Namespace: ns,
		// Existing links seed the tap table (and signal once at start).
		ListExisting: true,
		ErrorCallback: func(err error) {
			cbMu.Lock()
			if cbErr == nil {
				cbErr = err
			}
			cbMu.Unlock()
		},
	})
	if err != nil {
		return false, false, fmt.Errorf("subscribe to links: %w", err)
	}
	if again {
		d.log.Info("netlink link subscription back")
		d.events.Notify()
	}
	known := map[int]tapMark{}
	for {
		select {
		case u, ok := <-updates:
			if !ok {
				cbMu.Lock()
				defer cbMu.Unlock()
				if cbErr == nil {
					cbErr = errors.New("subscription ended")
				}
				return false, true, fmt.Errorf("link subscription: %w", cbErr)
			}
			idx, m := markOf(u.Link)
			if tapChanged(known, u.Header.Type == unix.RTM_DELLINK, idx, m) {
				d.events.Notify()
			}
		case <-d.done:
			stopSub()
			// The library's reader may be blocked handing us a message:
			// read until it closes the channel.
			for range updates {
			}
			return true, true, nil
		}
	}
}
