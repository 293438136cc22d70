package rpc

import (
	"sync"

	"neutrino/internal/neutron"
)

// span is the set of hosts whose view a change may alter: every host
// (all), or hosts; nets, when not nil, are the only items of their views
// that may have changed (networks; routers for the L3 view).
type span struct {
	all   bool
	hosts map[string]struct{}
	nets  map[string]struct{}
	// vteps: the set of all VTEPs moved; every other host's view gets a
	// refresh that touches no network (its underlay filter follows).
	vteps bool
}

// viewModel is one kind of per-host view the hub serves (the L2 agents'
// l2pop view, the DHCP agents' state, ...): a model fed by the change log
// that computes each host's view V, and the delta D between two views.
// Everything but the model's state is pure.
type viewModel[V, D any] interface {
	Revision() int64
	// Apply feeds one change-log row to the model.
	Apply(c neutron.Change) (span, error)
	// Hosts lists the hosts that have a view; HasHost asks for one.
	Hosts() []string
	HasHost(host string) bool
	// View computes host's view; Update recomputes it from old when only
	// the networks in nets may have changed (nil: any may have).
	View(host string) V
	Update(host string, old V, nets map[string]struct{}) V
	Diff(old, now V) D
	// DeltaSize and ViewSize count items; a delta of size 0 is empty.
	DeltaSize(d D) int
	ViewSize(v V) int
}

// hub keeps a view model, the current view of every host and a short log
// of the deltas each host's view went through, so a reconnecting agent
// gets exactly what it missed. The tailer writes; streams read. No stream
// ever blocks the tailer: a stream that falls behind the log gets a
// snapshot instead. Views are replaced, never changed in place, so they
// are shared with streams without copying.
type hub[V, D any] struct {
	mu       sync.Mutex
	newModel func(*neutron.State) viewModel[V, D]
	// empty is a host's view before it has any (new hosts start from it).
	empty  func(host string) V
	model  viewModel[V, D]
	hosts  map[string]*hostState[V, D]
	logLen int
}

type hostState[V, D any] struct {
	view V
	rev  int64 // revision view is at
	// logStart: log holds every change of view after this revision.
	logStart int64
	log      []logEntry[D]
	logSize  int // sum of log[i].size
	subs     map[chan struct{}]struct{}
}

type logEntry[D any] struct {
	prev, rev int64
	delta     D
	size      int // items in delta
}

func newHub[V, D any](newModel func(*neutron.State) viewModel[V, D], empty func(host string) V, logLen int) *hub[V, D] {
	if logLen <= 0 {
		logLen = 64
	}
	return &hub[V, D]{newModel: newModel, empty: empty, hosts: map[string]*hostState[V, D]{}, logLen: logLen}
}

func (h *hub[V, D]) revision() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.model == nil {
		return 0
	}
	return h.model.Revision()
}

// load replaces the model with a fresh snapshot (at start, or when the
// change log was pruned past our revision). Hosts already known get the
// difference as an ordinary delta, so their agents need no snapshot.
func (h *hub[V, D]) load(st *neutron.State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.model = h.newModel(st)
	for name, hs := range h.hosts {
		h.refresh(name, hs, nil)
	}
	// Then the hosts new to the hub: their views computed once (before,
	// every view was computed here and again by a refresh that found
	// nothing to send).
	for _, host := range h.model.Hosts() {
		h.host(host)
	}
}

// host returns host's state, creating it at the current revision.
// Callers hold mu and have a model.
func (h *hub[V, D]) host(name string) *hostState[V, D] {
	hs := h.hosts[name]
	if hs == nil {
		rev := h.model.Revision()
		hs = &hostState[V, D]{view: h.model.View(name), rev: rev, logStart: rev, subs: map[chan struct{}]struct{}{}}
		h.hosts[name] = hs
	}
	return hs
}

// refresh recomputes host's view and logs the delta if it changed. nets
// (not nil) are the only networks that may have changed since hs.view:
// the rest of the view is reused, so the cost follows the change, not the
// host's view.
func (h *hub[V, D]) refresh(name string, hs *hostState[V, D], nets map[string]struct{}) {
	now := h.model.Update(name, hs.view, nets)
	d := h.model.Diff(hs.view, now)
	size := h.model.DeltaSize(d)
	if size == 0 {
		return
	}
	rev := h.model.Revision()
	hs.log = append(hs.log, logEntry[D]{prev: hs.rev, rev: rev, delta: d, size: size})
	hs.logSize += size
	// Replaying more than a snapshot's worth is pointless: keep at most
	// logLen deltas and about one view's worth of items.
	limit := max(h.model.ViewSize(now), 64)
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
func (h *hub[V, D]) apply(changes []neutron.Change) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prevRev := h.model.Revision()
	all, vteps := false, false
	affected := map[string]struct{}{}
	// nets: the networks the batch touched; nil once a change may have
	// touched more (an agent or endpoint row): then views are recomputed.
	nets, someNets := map[string]struct{}{}, true
	var firstErr error
	for _, c := range changes {
		sp, err := h.model.Apply(c)
		if err != nil && firstErr == nil {
			// A row we cannot decode must not stop the stream; the
			// periodic snapshot check repairs it.
			firstErr = err
		}
		all = all || sp.all
		vteps = vteps || sp.vteps
		for host := range sp.hosts {
			affected[host] = struct{}{}
		}
		if sp.all || len(sp.hosts) > 0 {
			someNets = someNets && sp.nets != nil
			for id := range sp.nets {
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
func (h *hub[V, D]) update(host string, prevRev int64, nets map[string]struct{}) int {
	hs, ok := h.hosts[host]
	if !ok {
		if !h.model.HasHost(host) {
			return 0
		}
		hs = &hostState[V, D]{view: h.empty(host), rev: prevRev, logStart: prevRev, subs: map[chan struct{}]struct{}{}}
		h.hosts[host] = hs
	}
	before := hs.rev
	h.refresh(host, hs, nets)
	if hs.rev != before {
		return 1
	}
	return 0
}

// registered reports whether host's agent is in the model, and the
// revision the model is at.
func (h *hub[V, D]) registered(host string) (bool, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.model == nil {
		return false, 0
	}
	return h.model.HasHost(host), h.model.Revision()
}

// subscribe registers a wake-up channel for host.
func (h *hub[V, D]) subscribe(name string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan struct{}, 1)
	h.host(name).subs[ch] = struct{}{}
	return ch
}

func (h *hub[V, D]) unsubscribe(name string, ch chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hs := h.hosts[name]; hs != nil {
		delete(hs.subs, ch)
	}
}

// pending is what a stream at revision `at` must send next: either the
// log entries after it, or (when at is unknown or trimmed) a snapshot.
type pending[V, D any] struct {
	snapshot *V
	rev      int64
	deltas   []logEntry[D]
}

func (h *hub[V, D]) pendingFor(name string, at int64) pending[V, D] {
	h.mu.Lock()
	defer h.mu.Unlock()
	hs := h.host(name)
	if at == 0 {
		// A new agent: always a snapshot, even of an empty view, so
		// it knows it is in sync.
		v := hs.view
		return pending[V, D]{snapshot: &v, rev: hs.rev}
	}
	if at == hs.rev {
		return pending[V, D]{rev: at}
	}
	i := 0
	for i < len(hs.log) && hs.log[i].rev <= at {
		i++
	}
	valid := (i == 0 && at == hs.logStart) || (i > 0 && hs.log[i-1].rev == at)
	if !valid {
		v := hs.view
		return pending[V, D]{snapshot: &v, rev: hs.rev}
	}
	return pending[V, D]{rev: hs.rev, deltas: append([]logEntry[D](nil), hs.log[i:]...)}
}

// view returns host's current view and its revision (shared: views are
// never changed in place).
func (h *hub[V, D]) view(name string) (V, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hs := h.host(name)
	return hs.view, hs.rev
}

// read calls f with the model, under the hub's lock (f must not keep it).
func (h *hub[V, D]) read(f func(viewModel[V, D])) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.model != nil {
		f(h.model)
	}
}

// lag is how far host's view is ahead of revision r (0 when
// not, or when the host is unknown).
func (h *hub[V, D]) lag(host string, r int64) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hs := h.hosts[host]; hs != nil && hs.rev > r {
		return hs.rev - r
	}
	return 0
}
