package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"neutrino/internal/neutron"
)

// lookup is an in-memory Lookup: one network's subnets and allocations.
type lookup struct {
	subnets []neutron.Subnet
	allocs  map[string]string // ip -> port
	subOf   map[string]string // ip -> subnet
}

func (l *lookup) NetworkSubnets(context.Context, string) ([]neutron.Subnet, error) {
	return l.subnets, nil
}

func (l *lookup) SubnetAllocations(_ context.Context, subnetID string) (map[string]string, error) {
	out := map[string]string{}
	for ip, port := range l.allocs {
		if l.subOf[ip] == subnetID {
			out[ip] = port
		}
	}
	return out, nil
}

func (l *lookup) AllocatedAmong(_ context.Context, _ string, ips []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, ip := range ips {
		if _, ok := l.allocs[ip]; ok {
			out[ip] = true
		}
	}
	return out, nil
}

func (l *lookup) IPAllocated(_ context.Context, _ string, ip string) (string, error) {
	return l.allocs[ip], nil
}

func subnet(id, cidr, gw, start, end, v6mode string) neutron.Subnet {
	s := neutron.Subnet{CIDR: cidr, GatewayIP: gw, IPv6AddressMode: v6mode,
		AllocationPools: []neutron.AllocationPool{{Start: start, End: end}}}
	s.ID = id
	return s
}

func addrs(ips []neutron.FixedIP) string {
	var b []string
	for _, f := range ips {
		b = append(b, f.SubnetID+"="+f.IPAddress)
	}
	return strings.Join(b, " ")
}

func TestAllocatorAuto(t *testing.T) {
	ctx := context.Background()
	l := &lookup{subnets: []neutron.Subnet{
		subnet("v4", "192.168.1.0/29", "192.168.1.1", "192.168.1.2", "192.168.1.3", ""),
		subnet("slaac", "2001:db8::/64", "2001:db8::1", "2001:db8::2", "2001:db8::ffff", "slaac"),
	}, allocs: map[string]string{"192.168.1.2": "other"}, subOf: map[string]string{"192.168.1.2": "v4"}}
	a := NewAllocator()
	al := a.Begin()
	got, err := al.FixedIPs(ctx, l, Request{NetworkID: "net", Auto: true, MAC: "fa:16:3e:00:00:01", PortID: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	// The only free pool address, and the EUI-64 address of the MAC.
	if want := "v4=192.168.1.3 slaac=2001:db8::f816:3eff:fe00:1"; addrs(got) != want {
		t.Fatalf("auto = %s, want %s", addrs(got), want)
	}
	al.Release()
	if len(a.inflight) != 0 {
		t.Fatalf("inflight after release: %v", a.inflight)
	}
}

func TestAllocatorSpreadsConcurrentRequests(t *testing.T) {
	ctx := context.Background()
	l := &lookup{subnets: []neutron.Subnet{subnet("v4", "10.0.0.0/24", "10.0.0.1", "10.0.0.2", "10.0.0.254", "")}}
	a := NewAllocator()
	seen := map[string]bool{}
	var open []*Allocation
	for i := 0; i < 50; i++ {
		al := a.Begin()
		open = append(open, al)
		got, err := al.FixedIPs(ctx, l, Request{NetworkID: "net", Auto: true, PortID: fmt.Sprint(i)})
		if err != nil || len(got) != 1 {
			t.Fatalf("request %d: %v %v", i, got, err)
		}
		if seen[got[0].IPAddress] {
			t.Fatalf("request %d got %s, held by an unfinished request", i, got[0].IPAddress)
		}
		seen[got[0].IPAddress] = true
	}
	for _, al := range open {
		al.Release()
	}
	if len(a.inflight) != 0 {
		t.Fatalf("inflight after release: %v", a.inflight)
	}
}

// A request that read the allocations before another's commit must not
// take the address that commit released afterwards: its read did not
// show it, and both would insert it (one failing on the unique index).
func TestAllocatorReleasedAfterBeginStaysBusy(t *testing.T) {
	ctx := context.Background()
	// The lookup never shows A's address: B's read predates A's commit.
	l := &lookup{subnets: []neutron.Subnet{subnet("v4", "10.0.0.0/24", "10.0.0.1", "10.0.0.2", "10.0.0.254", "")}}
	a := NewAllocator()
	first := func(al *Allocation) string {
		t.Helper()
		got, err := al.FixedIPs(ctx, l, Request{NetworkID: "net", Auto: true, PreferNext: true})
		if err != nil || len(got) != 1 {
			t.Fatalf("%v %v", got, err)
		}
		return got[0].IPAddress
	}
	alA := a.Begin()
	if got := first(alA); got != "10.0.0.2" {
		t.Fatalf("A got %s, want 10.0.0.2", got)
	}
	alB := a.Begin()
	alA.Release() // A committed
	if got := first(alB); got != "10.0.0.3" {
		t.Fatalf("B, begun before A's release, got %s, want 10.0.0.3", got)
	}
	alC := a.Begin() // begun after A's release: its read shows A's commit
	alB.Release()
	alC.Release()
	if len(a.inflight) != 0 || len(a.released) != 0 || len(a.active) != 0 {
		t.Fatalf("after release: inflight %v released %v active %d", a.inflight, a.released, len(a.active))
	}
	alD := a.Begin()
	defer alD.Release()
	if got := first(alD); got != "10.0.0.2" {
		t.Fatalf("D, begun after every release, got %s, want 10.0.0.2 (the lookup shows it free)", got)
	}
}

func TestAllocatorRequested(t *testing.T) {
	ctx := context.Background()
	l := &lookup{subnets: []neutron.Subnet{subnet("v4", "192.168.1.0/24", "192.168.1.1", "192.168.1.2", "192.168.1.254", "")},
		allocs: map[string]string{"192.168.1.10": "other", "192.168.1.11": "self"},
		subOf:  map[string]string{"192.168.1.10": "v4", "192.168.1.11": "v4"}}
	cases := []struct {
		name   string
		req    Request
		want   string // addresses, or the NeutronError type
		status int
	}{
		{"address", Request{FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.20"}}}, "v4=192.168.1.20", 0},
		{"own address kept", Request{PortID: "self", FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.11"}}}, "v4=192.168.1.11", 0},
		{"taken", Request{PortID: "self", FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.10"}}}, "IpAddressAlreadyAllocated", 409},
		{"gateway", Request{FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.1"}}}, "IpAddressAlreadyAllocated", 409},
		{"gateway for a router", Request{MayUseGateway: true, FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.1"}}}, "v4=192.168.1.1", 0},
		{"twice", Request{FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.20"}, {IPAddress: "192.168.1.20"}}}, "IpAddressAlreadyAllocated", 409},
		{"outside", Request{FixedIPs: []neutron.FixedIPRequest{{IPAddress: "10.0.0.5"}}}, "InvalidIpForNetwork", 400},
		{"broadcast on subnet", Request{FixedIPs: []neutron.FixedIPRequest{{SubnetID: "v4", IPAddress: "192.168.1.255"}}}, "InvalidIpForSubnet", 400},
		{"unknown subnet", Request{FixedIPs: []neutron.FixedIPRequest{{SubnetID: "nope"}}}, "InvalidInput", 400},
		{"sorted", Request{FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.30"}, {IPAddress: "192.168.1.4"}}}, "v4=192.168.1.4 v4=192.168.1.30", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.NetworkID = "net"
			al := NewAllocator().Begin()
			defer al.Release()
			got, err := al.FixedIPs(ctx, l, c.req)
			if c.status == 0 {
				if err != nil || addrs(got) != c.want {
					t.Fatalf("got %s %v, want %s", addrs(got), err, c.want)
				}
				return
			}
			var ne *neutron.Error
			if !errors.As(err, &ne) || ne.Type != c.want || ne.Status != c.status {
				t.Fatalf("got %v %v, want %s %d", got, err, c.want, c.status)
			}
		})
	}
}

// A DHCP port takes the lowest free address of the pool (Neutron's
// PreferNextAddressRequest), also in a pool large enough to be probed at
// random otherwise, and the next unfinished request takes the one after.
func TestAllocatorPreferNext(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, start, end, taken, want, next string
		cidr                                string
	}{
		{"small pool", "192.168.1.2", "192.168.1.254", "192.168.1.2", "192.168.1.3", "192.168.1.4", "192.168.1.0/24"},
		{"large pool", "10.0.0.2", "10.255.255.254", "10.0.0.3", "10.0.0.2", "10.0.0.4", "10.0.0.0/8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &lookup{subnets: []neutron.Subnet{subnet("v4", tc.cidr, "", tc.start, tc.end, "")},
				allocs: map[string]string{tc.taken: "other"}, subOf: map[string]string{tc.taken: "v4"}}
			a := NewAllocator()
			al, al2 := a.Begin(), a.Begin()
			defer al.Release()
			defer al2.Release()
			req := Request{NetworkID: "net", FixedIPs: []neutron.FixedIPRequest{{SubnetID: "v4"}}, PreferNext: true}
			got, err := al.FixedIPs(ctx, l, req)
			if err != nil || addrs(got) != "v4="+tc.want {
				t.Fatalf("first = %s, %v; want v4=%s", addrs(got), err, tc.want)
			}
			got, err = al2.FixedIPs(ctx, l, req)
			if err != nil || addrs(got) != "v4="+tc.next {
				t.Fatalf("second = %s, %v; want v4=%s", addrs(got), err, tc.next)
			}
		})
	}
}

// askLog is a lookup that records the addresses each AllocatedAmong call
// asked about.
type askLog struct {
	*lookup
	asked [][]string
}

func (l *askLog) AllocatedAmong(ctx context.Context, net string, ips []string) (map[string]bool, error) {
	l.asked = append(l.asked, append([]string(nil), ips...))
	return l.lookup.AllocatedAmong(ctx, net, ips)
}

// ProbeAhead guesses from the pools the previous request saw; FixedIPs
// asks about exactly the guesses still valid for the pools it reads, and
// draws new candidates when none is.
func TestProbeAhead(t *testing.T) {
	ctx := context.Background()
	a := NewAllocator()
	req := Request{NetworkID: "net", Auto: true, MAC: "fa:16:3e:00:00:01"}
	if got := a.Begin().ProbeAhead(req); got != nil {
		t.Fatalf("ProbeAhead before any request = %v, want nil (nothing seen yet)", got)
	}
	// 10.0.0.0/16: a large pool, probed.
	l := &askLog{lookup: &lookup{subnets: []neutron.Subnet{subnet("v4", "10.0.0.0/16", "10.0.0.1", "10.0.0.2", "10.0.255.254", "")},
		allocs: map[string]string{}, subOf: map[string]string{}}}
	first := a.Begin()
	if _, err := first.FixedIPs(ctx, l, req); err != nil {
		t.Fatal(err)
	}
	first.Release()

	al := a.Begin()
	guess := al.ProbeAhead(req)
	if len(guess) != probeCandidates {
		t.Fatalf("ProbeAhead = %d candidates, want %d", len(guess), probeCandidates)
	}
	l.asked = nil
	got, err := al.FixedIPs(ctx, l, req)
	if err != nil {
		t.Fatal(err)
	}
	al.Release()
	if len(l.asked) != 1 || strings.Join(l.asked[0], " ") != strings.Join(guess, " ") {
		t.Fatalf("FixedIPs asked %v, want exactly the guess %v", l.asked, guess)
	}
	if got[0].IPAddress != guess[0] {
		t.Fatalf("picked %s, want the first free guess %s", got[0].IPAddress, guess[0])
	}

	// The pool shrank to 10.0.1.0-10.0.1.255 meanwhile (other subnet id:
	// the guess is for another subnet) and then the same subnet with a
	// different pool: guesses outside it are never asked about or used.
	for _, s := range []neutron.Subnet{
		subnet("v4b", "10.0.0.0/16", "10.0.0.1", "10.0.1.0", "10.0.1.255", ""),
		subnet("v4b", "10.0.0.0/16", "10.0.0.1", "10.0.2.0", "10.0.2.255", ""),
	} {
		al := a.Begin()
		guess := al.ProbeAhead(req)
		l.subnets, l.asked = []neutron.Subnet{s}, nil
		got, err := al.FixedIPs(ctx, l, req)
		if err != nil {
			t.Fatal(err)
		}
		al.Release()
		pool := ParsePools(s.AllocationPools)[0]
		for _, call := range l.asked {
			for _, ip := range call {
				if !pool.Contains(netip.MustParseAddr(ip)) {
					t.Fatalf("asked about %s, outside the pool %s-%s (guess %v)", ip, pool.Start, pool.End, guess)
				}
			}
		}
		if a := netip.MustParseAddr(got[0].IPAddress); !pool.Contains(a) {
			t.Fatalf("picked %s outside the pool %s-%s", a, pool.Start, pool.End)
		}
	}
}
