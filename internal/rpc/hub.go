package rpc

import (
	"sync"

	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
)

// hub keeps the l2pop model, the current view of every host and a short
// log of the deltas each host's view went through, so a reconnecting
// agent gets exactly what it missed. The tailer writes; streams read. No
// stream ever blocks the tailer: a stream that falls behind the log gets
// a snapshot instead.
type hub struct {
	mu     sync.Mutex
	cfg    l2pop.Config
	model  *l2pop.Model
	hosts  map[string]*hostState
	logLen int
}

type hostState struct {
	view l2pop.View
	rev  int64 // revision view is at
	// logStart: log holds every change of view after this revision.
	logStart int64
	log      []logEntry
	logSize  int // sum of log[i].size
	subs     map[chan struct{}]struct{}
}

type logEntry struct {
	prev, rev int64
	delta     l2pop.Delta
	size      int // items in delta
}

func newHub(cfg l2pop.Config, logLen int) *hub {
	if logLen <= 0 {
		logLen = 64
	}
	return &hub{cfg: cfg, hosts: map[string]*hostState{}, logLen: logLen}
}

func (h *hub) revision() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.model == nil {
		return 0
	}
	return h.model.Revision
}

// load replaces the model with a fresh snapshot (at start, or when the
// change log was pruned past our revision). Hosts already known get the
// difference as an ordinary delta, so their agents need no snapshot.
func (h *hub) load(st *neutron.State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.model = l2pop.NewModel(h.cfg, st)
	for _, host := range h.model.Hosts() {
		h.host(host)
	}
	for name, hs := range h.hosts {
		h.refresh(name, hs, nil)
	}
}

// host returns host's state, creating it at the current revision.
// Callers hold mu and have a model.
func (h *hub) host(name string) *hostState {
	hs := h.hosts[name]
	if hs == nil {
		rev := h.model.Revision
		hs = &hostState{view: h.model.View(name), rev: rev, logStart: rev, subs: map[chan struct{}]struct{}{}}
		h.hosts[name] = hs
	}
	return hs
}

// refresh recomputes host's view and logs the delta if it changed. nets
// (not nil) are the only networks that may have changed since hs.view
// (l2pop.Span.Nets): the rest of the view is reused, so the cost follows
// the change, not the host's view.
func (h *hub) refresh(name string, hs *hostState, nets map[string]struct{}) {
	now := h.model.UpdateView(hs.view, nets)
	d := l2pop.Diff(hs.view, now)
	if d.Empty() {
		return
	}
	rev := h.model.Revision
	hs.log = append(hs.log, logEntry{prev: hs.rev, rev: rev, delta: d, size: d.Size()})
	hs.logSize += hs.log[len(hs.log)-1].size
	// Replaying more than a snapshot's worth is pointless: keep at most
	// logLen deltas and about one view's worth of items.
	limit := max(now.Size(), 64)
	drop := 0
	for len(hs.log)-drop > h.logLen || (hs.logSize > limit && len(hs.log)-drop > 1) {
		hs.logSize -= hs.log[drop].size
		drop++
	}
	if drop > 0 {
		hs.logStart = hs.log[drop-1].rev
		hs.log = append(hs.log[:0:0], hs.log[drop:]...)
	}
	hs.view, hs.rev = now, rev
	for ch := range hs.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// apply feeds change-log rows to the model and updates the affected hosts'
// views. It returns how many hosts' views changed.
func (h *hub) apply(changes []neutron.Change) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prevRev := h.model.Revision
	all, vteps := false, false
	affected := map[string]struct{}{}
	// nets: the networks the batch touched; nil once a change may have
	// touched more (an agent or endpoint row): then views are recomputed.
	nets, someNets := map[string]struct{}{}, true
	var firstErr error
	for _, c := range changes {
		span, err := h.model.Apply(c)
		if err != nil && firstErr == nil {
			// A row we cannot decode must not stop the stream; the
			// periodic snapshot check repairs it.
			firstErr = err
		}
		all = all || span.All
		vteps = vteps || span.VTEPs
		for host := range span.Hosts {
			affected[host] = struct{}{}
		}
		if span.All || len(span.Hosts) > 0 {
			someNets = someNets && span.Nets != nil
			for id := range span.Nets {
				nets[id] = struct{}{}
			}
		}
	}
	if !someNets {
		nets = nil
	}
	if all {
		for _, host := range h.model.Hosts() {
			affected[host] = struct{}{}
		}
		for host := range h.hosts {
			affected[host] = struct{}{}
		}
	}
	n := 0
	for host := range affected {
		n += h.update(host, prevRev, nets)
	}
	if vteps && !all {
		// The set of VTEPs moved: every other host's underlay filter
		// follows, nothing else of its view.
		for _, host := range h.model.Hosts() {
			if _, done := affected[host]; !done {
				n += h.update(host, prevRev, map[string]struct{}{})
			}
		}
	}
	return n, firstErr
}

// update refreshes host's view (see refresh for nets) and returns 1 if it
// changed. A host new to the hub starts at prevRev with an empty view, so
// its first delta is its whole view. Callers hold mu.
func (h *hub) update(host string, prevRev int64, nets map[string]struct{}) int {
	hs, ok := h.hosts[host]
	if !ok {
		if !h.model.HasAgent(host) {
			return 0
		}
		hs = &hostState{view: l2pop.View{Host: host}, rev: prevRev, logStart: prevRev, subs: map[chan struct{}]struct{}{}}
		h.hosts[host] = hs
	}
	before := hs.rev
	h.refresh(host, hs, nets)
	if hs.rev != before {
		return 1
	}
	return 0
}

// subscribe registers a wake-up channel for host.
func (h *hub) subscribe(name string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan struct{}, 1)
	h.host(name).subs[ch] = struct{}{}
	return ch
}

func (h *hub) unsubscribe(name string, ch chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hs := h.hosts[name]; hs != nil {
		delete(hs.subs, ch)
	}
}

// pending is what a stream at revision `at` must send next: either the
// log entries after it, or (when at is unknown or trimmed) a snapshot.
type pending struct {
	snapshot *l2pop.View
	rev      int64
	deltas   []logEntry
}

func (h *hub) pendingFor(name string, at int64) pending {
	h.mu.Lock()
	defer h.mu.Unlock()
	hs := h.host(name)
	if at == 0 {
		// A new agent: always a snapshot, even of an empty view, so
		// it knows it is in sync.
		v := hs.view
		return pending{snapshot: &v, rev: hs.rev}
	}
	if at == hs.rev {
		return pending{rev: at}
	}
	i := 0
	for i < len(hs.log) && hs.log[i].rev <= at {
		i++
	}
	valid := (i == 0 && at == hs.logStart) || (i > 0 && hs.log[i-1].rev == at)
	if !valid {
		// Views are replaced, never changed in place: sharing is safe.
		v := hs.view
		return pending{snapshot: &v, rev: hs.rev}
	}
	return pending{rev: hs.rev, deltas: append([]logEntry(nil), hs.log[i:]...)}
}

// view returns host's current view and its revision.
func (h *hub) view(name string) (l2pop.View, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hs := h.host(name)
	return hs.view.Clone(), hs.rev
}
