package main

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"neutrino/internal/lab"
)

// prober pings from one VM namespace to another VM's address every
// interval with its own raw ICMP socket (made inside the VM namespace),
// and remembers when each echo was sent and whether it was answered.
type prober struct {
	name     string
	ns       string
	dst      netip.Addr
	id       uint16
	interval time.Duration
	// nodes are the nodes whose data planes the echoes cross.
	nodes []string
	// control marks a probe from a controller node to a node's VTEP
	// address: it crosses the node's datapath (its userspace OVS or
	// kernel) but nothing neutrino programs, so it loses echoes only when
	// the machine stalls the datapath itself (see report.probes).
	control bool

	mu      sync.Mutex
	sent    []time.Time // by sequence number
	replied []bool
	lastOK  time.Time // send time of the newest answered echo
}

func newProber(name, ns string, dst netip.Addr, id uint16, interval time.Duration, nodes ...string) *prober {
	return &prober{name: name, ns: ns, dst: dst, id: id, interval: interval, nodes: nodes}
}

// lostBetween reports whether an echo sent in [from, to] was lost.
func (p *prober) lostBetween(from, to time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, t := range p.sent {
		if !t.Before(from) && !t.After(to) && !p.replied[i] {
			return true
		}
	}
	return false
}

// run sends until ctx ends.
func (p *prober) run(ctx context.Context) error {
	var fd int
	if err := lab.InNS(p.ns, func() error {
		var err error
		fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP)
		return err
	}); err != nil {
		return err
	}
	tv := syscall.NsecToTimeval(int64(200 * time.Millisecond))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		syscall.Close(fd)
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.receive(ctx, fd) }()
	defer func() { wg.Wait(); syscall.Close(fd) }()
	to := &syscall.SockaddrInet4{Addr: p.dst.As4()}
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		p.mu.Lock()
		seq := uint16(len(p.sent))
		p.sent = append(p.sent, time.Now())
		p.replied = append(p.replied, false)
		p.mu.Unlock()
		_ = syscall.Sendto(fd, echo(p.id, seq), 0, to) // an error is a lost probe
	}
}

func echo(id, seq uint16) []byte {
	b := make([]byte, 16)
	b[0] = 8 // echo request
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], "neutrino")
	binary.BigEndian.PutUint16(b[2:], checksum(b))
	return b
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func (p *prober) receive(ctx context.Context, fd int) {
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil || n < 28 {
			continue
		}
		ihl := int(buf[0]&0x0f) * 4
		if n < ihl+8 || buf[ihl] != 0 { // echo reply
			continue
		}
		if binary.BigEndian.Uint16(buf[ihl+4:]) != p.id {
			continue
		}
		seq := binary.BigEndian.Uint16(buf[ihl+6:])
		p.mu.Lock()
		// Sequence numbers wrap at 65536; the newest send with this
		// number is the one answered (a 3 s old reply cannot wrap).
		for i := len(p.sent) - 1; i >= 0 && len(p.sent)-i <= 65536; i-- {
			if uint16(i) == seq {
				p.replied[i] = true
				if p.sent[i].After(p.lastOK) {
					p.lastOK = p.sent[i]
				}
				break
			}
		}
		p.mu.Unlock()
	}
}

// answeredSince reports whether an echo sent at or after t was answered.
func (p *prober) answeredSince(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.lastOK.Before(t)
}

// unansweredTail counts the newest consecutive echoes sent before t that
// have no answer.
func (p *prober) unansweredTail(t time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for i := len(p.sent) - 1; i >= 0; i-- {
		if p.sent[i].After(t) {
			continue
		}
		if p.replied[i] {
			break
		}
		n++
	}
	return n
}
