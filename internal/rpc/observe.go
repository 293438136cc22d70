package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"neutrino/internal/dataplane"
	"neutrino/internal/l2pop"
	"neutrino/internal/rpc/pb"
)

// L2PopConfig is the l2population configuration the server computes
// views with (trace computes the same views).
func (s *Server) L2PopConfig() l2pop.Config { return s.cfg.L2Pop }

// AuditReport is one agent's audit: its data plane compared with the state
// it must realise, the differences found and what the repair left.
type AuditReport struct {
	Host string `json:"host"`
	// Revision is the revision of the desired state compared;
	// AppliedRevision the last one applied.
	Revision        int64                  `json:"revision"`
	AppliedRevision int64                  `json:"applied_revision"`
	ComparedAt      time.Time              `json:"last_compare"`
	Digest          string                 `json:"digest"`
	Facts           int                    `json:"facts"`
	Differences     []dataplane.Difference `json:"differences"`
	Repaired        int                    `json:"repaired"`
	Error           string                 `json:"last_error"`
	Audits          int64                  `json:"audits"`
	FoundTotal      int64                  `json:"differences_found_total"`
	RepairedTotal   int64                  `json:"repaired_total"`
	// Set by the server: when the report arrived and whether the agent
	// holds an Observe stream now.
	ReportedAt time.Time `json:"reported_at"`
	Connected  bool      `json:"connected"`
}

// ErrNotConnected means the host's agent holds no Observe stream to this
// server.
var ErrNotConnected = errors.New("agent not connected to this server")

// observers tracks the agents' Observe streams and their last audits.
type observers struct {
	mu       sync.Mutex
	sessions map[string]*session
	audits   map[string]AuditReport
	// sent is, per host with an open watch stream, the revision the
	// stream has brought its agent to.
	sent   map[string]int64
	nextID atomic.Uint64
}

type session struct {
	host    string
	send    chan *pb.ObserveRequest
	mu      sync.Mutex
	waiting map[uint64]chan *pb.ObserveReply
}

func (o *observers) attach(host string) *session {
	s := &session{host: host, send: make(chan *pb.ObserveRequest, 16), waiting: map[uint64]chan *pb.ObserveReply{}}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sessions == nil {
		o.sessions = map[string]*session{}
	}
	// A reconnecting agent replaces its old stream.
	o.sessions[host] = s
	return s
}

func (o *observers) detach(s *session) {
	o.mu.Lock()
	if o.sessions[s.host] == s {
		delete(o.sessions, s.host)
	}
	o.mu.Unlock()
	s.mu.Lock()
	for id, ch := range s.waiting {
		close(ch)
		delete(s.waiting, id)
	}
	s.mu.Unlock()
}

func (o *observers) session(host string) *session {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sessions[host]
}

// ask sends req to host's agent and waits for the answer.
func (o *observers) ask(ctx context.Context, host string, req *pb.ObserveRequest) (*pb.ObserveReply, error) {
	s := o.session(host)
	if s == nil {
		return nil, fmt.Errorf("%s: %w", host, ErrNotConnected)
	}
	req.Id = o.nextID.Add(1)
	ch := make(chan *pb.ObserveReply, 1)
	s.mu.Lock()
	s.waiting[req.Id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiting, req.Id)
		s.mu.Unlock()
	}()
	select {
	case s.send <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: stream closed before the answer: %w", host, ErrNotConnected)
		}
		if r.GetError() != "" {
			return r, fmt.Errorf("%s: %s", host, r.GetError())
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *session) deliver(r *pb.ObserveReply) {
	s.mu.Lock()
	ch := s.waiting[r.GetId()]
	delete(s.waiting, r.GetId())
	s.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

// Observe implements pb.AgentsServer.
func (s *Server) Observe(stream grpc.BidiStreamingServer[pb.ObserveReply, pb.ObserveRequest]) error {
	hello, err := stream.Recv()
	if err != nil {
		return err
	}
	if hello.GetHost() == "" {
		return status.Error(codes.InvalidArgument, "observe: the first message must name the host")
	}
	sess := s.obs.attach(hello.GetHost())
	defer s.obs.detach(sess)
	s.log.Debug("agent observe stream open", "host", sess.host)
	recvErr := make(chan error, 1)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			if r.GetAudit() != nil {
				s.storeAudit(auditFromPB(r.GetAudit()))
			}
			sess.deliver(r)
		}
	}()
	for {
		select {
		case req := <-sess.send:
			if err := stream.Send(req); err != nil {
				return err
			}
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case <-stream.Context().Done():
			return nil
		}
	}
}

// ReportAudit implements pb.AgentsServer.
func (s *Server) ReportAudit(_ context.Context, r *pb.AuditReport) (*pb.AuditReportReply, error) {
	if r.GetHost() == "" {
		return nil, status.Error(codes.InvalidArgument, "audit report needs host")
	}
	s.storeAudit(auditFromPB(r))
	return &pb.AuditReportReply{}, nil
}

func (s *Server) storeAudit(r AuditReport) {
	r.ReportedAt = time.Now().UTC()
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	if s.obs.audits == nil {
		s.obs.audits = map[string]AuditReport{}
	}
	s.obs.audits[r.Host] = r
}

// Audits returns the last audit report of every host that sent one, by
// host, with Connected telling whether its agent holds a stream now.
func (s *Server) Audits() []AuditReport {
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	out := make([]AuditReport, 0, len(s.obs.audits))
	for host, r := range s.obs.audits {
		_, r.Connected = s.obs.sessions[host]
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b AuditReport) int {
		if a.Host < b.Host {
			return -1
		}
		if a.Host > b.Host {
			return 1
		}
		return 0
	})
	return out
}

// Check asks host's agent whether its data plane holds each fact.
func (s *Server) Check(ctx context.Context, host string, facts []dataplane.Fact) ([]bool, error) {
	req := &pb.ObserveRequest{Checks: make([]*pb.Fact, len(facts))}
	for i, f := range facts {
		req.Checks[i] = factToPB(f)
	}
	r, err := s.obs.ask(ctx, host, req)
	if err != nil {
		return nil, err
	}
	if len(r.GetPresent()) != len(facts) {
		return nil, fmt.Errorf("%s answered %d of %d checks", host, len(r.GetPresent()), len(facts))
	}
	return r.GetPresent(), nil
}

// AuditNow asks host's agent to audit (and repair) now and returns the
// report.
func (s *Server) AuditNow(ctx context.Context, host string) (AuditReport, error) {
	r, err := s.obs.ask(ctx, host, &pb.ObserveRequest{Audit: true})
	if err != nil {
		return AuditReport{}, err
	}
	if r.GetAudit() == nil {
		return AuditReport{}, fmt.Errorf("%s answered without an audit", host)
	}
	a := auditFromPB(r.GetAudit())
	a.Connected = true
	return a, nil
}

// ObserveHandler answers the server's questions on the agent side.
type ObserveHandler interface {
	// Check reports, for each fact, whether the data plane holds it.
	Check(ctx context.Context, facts []dataplane.Fact) ([]bool, error)
	// Audit compares and repairs now and returns the report.
	Audit(ctx context.Context) (AuditReport, error)
}

// Observe opens the Observe stream for host and answers the server's
// requests with h until the stream breaks or ctx ends. It always returns
// an error; ctx.Err() when ctx ended.
func (c *Client) Observe(ctx context.Context, host string, h ObserveHandler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.api.Observe(ctx)
	if err != nil {
		return fmt.Errorf("observe: %w", err)
	}
	if err := stream.Send(&pb.ObserveReply{Host: host}); err != nil {
		return fmt.Errorf("observe: %w", err)
	}
	var sendMu sync.Mutex
	for {
		req, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("observe: %w", err)
		}
		// Answer in the background: an audit may take a while and a
		// check must not wait for it.
		go func() {
			rep := &pb.ObserveReply{Id: req.GetId()}
			if req.GetAudit() {
				a, err := h.Audit(ctx)
				rep.Audit = auditToPB(a)
				if err != nil {
					rep.Error = err.Error()
				}
			} else {
				facts := make([]dataplane.Fact, len(req.GetChecks()))
				for i, f := range req.GetChecks() {
					facts[i] = factFromPB(f)
				}
				present, err := h.Check(ctx, facts)
				rep.Present = present
				if err != nil {
					rep.Error = err.Error()
				}
			}
			sendMu.Lock()
			defer sendMu.Unlock()
			_ = stream.Send(rep)
		}()
	}
}

// ReportAudit sends one audit report.
func (c *Client) ReportAudit(ctx context.Context, r AuditReport) error {
	if _, err := c.api.ReportAudit(ctx, auditToPB(r)); err != nil {
		return fmt.Errorf("report audit: %w", err)
	}
	return nil
}

// factAddr decodes an address of a fact; a malformed one is left
// invalid (the fact is then simply not found).
func factAddr(b []byte) netip.Addr {
	a, _ := bytesAddr(b)
	return a
}

func factToPB(f dataplane.Fact) *pb.Fact {
	return &pb.Fact{Kind: string(f.Kind), Vni: f.VNI, Mac: f.MAC, Ip: addrBytes(f.IP), Vtep: addrBytes(f.VTEP), Port: f.Port}
}

func factFromPB(f *pb.Fact) dataplane.Fact {
	return dataplane.Fact{Kind: dataplane.FactKind(f.GetKind()), VNI: f.GetVni(), MAC: f.GetMac(), IP: factAddr(f.GetIp()), VTEP: factAddr(f.GetVtep()), Port: f.GetPort()}
}

func auditToPB(a AuditReport) *pb.AuditReport {
	r := &pb.AuditReport{Host: a.Host, Revision: a.Revision, AppliedRevision: a.AppliedRevision, Digest: a.Digest,
		Facts: int32(a.Facts), Repaired: int32(a.Repaired), Error: a.Error, Audits: a.Audits, FoundTotal: a.FoundTotal, RepairedTotal: a.RepairedTotal}
	if !a.ComparedAt.IsZero() {
		r.ComparedAtUnixMs = a.ComparedAt.UnixMilli()
	}
	for _, d := range a.Differences {
		pd := &pb.Difference{Kind: d.Kind}
		if d.Want != nil {
			pd.Want = factToPB(*d.Want)
		}
		if d.Held != nil {
			pd.Held = factToPB(*d.Held)
		}
		r.Differences = append(r.Differences, pd)
	}
	return r
}

func auditFromPB(r *pb.AuditReport) AuditReport {
	a := AuditReport{Host: r.GetHost(), Revision: r.GetRevision(), AppliedRevision: r.GetAppliedRevision(), Digest: r.GetDigest(),
		Facts: int(r.GetFacts()), Repaired: int(r.GetRepaired()), Error: r.GetError(), Audits: r.GetAudits(),
		FoundTotal: r.GetFoundTotal(), RepairedTotal: r.GetRepairedTotal(), Differences: []dataplane.Difference{}}
	if ms := r.GetComparedAtUnixMs(); ms != 0 {
		a.ComparedAt = time.UnixMilli(ms).UTC()
	}
	for _, d := range r.GetDifferences() {
		x := dataplane.Difference{Kind: d.GetKind()}
		if d.GetWant() != nil {
			f := factFromPB(d.GetWant())
			x.Want = &f
		}
		if d.GetHeld() != nil {
			f := factFromPB(d.GetHeld())
			x.Held = &f
		}
		a.Differences = append(a.Differences, x)
	}
	return a
}

// ObservedHosts lists the hosts whose agents hold an Observe stream.
func (s *Server) ObservedHosts() []string {
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	out := make([]string, 0, len(s.obs.sessions))
	for h := range s.obs.sessions {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

func (o *observers) markSent(host string, rev int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sent == nil {
		o.sent = map[string]int64{}
	}
	o.sent[host] = rev
}

func (o *observers) unmarkSent(host string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.sent, host)
}

// WatcherLags is, per host with an open watch stream, how many revisions
// its current view is ahead of what the stream has sent (0 when the
// agent has everything).
func (s *Server) WatcherLags() map[string]int64 {
	s.obs.mu.Lock()
	sent := make(map[string]int64, len(s.obs.sent))
	for h, r := range s.obs.sent {
		sent[h] = r
	}
	s.obs.mu.Unlock()
	out := make(map[string]int64, len(sent))
	for h, r := range sent {
		out[h] = s.hub.lag(h, r)
	}
	return out
}
