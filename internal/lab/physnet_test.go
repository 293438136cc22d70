package lab

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestPhysnetOutside: two "outside" hosts on a physnet reach each other
// through its switch (a node's physical interface joins the same switch),
// an address outside 198.18.0.0/15 is refused, and Teardown removes the
// outside namespaces with the rest.
func TestPhysnetOutside(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := testLab(t, ctx)
	pn, err := l.AddPhysnet(ctx, "physnet1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddPhysnet(ctx, "physnet1"); err == nil {
		t.Error("a second physnet1 was accepted")
	}
	node, err := l.AddNode(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	pp, err := pn.Join(ctx, node.NS, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := Exec(ctx, node.NS, "ip", "-o", "link", "show", "eth1"); err != nil || !strings.Contains(string(out), "state UP") {
		t.Errorf("eth1 in %s: %s %v", node.NS, out, err)
	}
	if out, err := Exec(ctx, l.Underlay, "ip", "-o", "link", "show", pp.Port); err != nil || !strings.Contains(string(out), "master "+pn.Bridge) {
		t.Errorf("switch port %s: %s %v", pp.Port, out, err)
	}
	if _, err := pn.AddOutside(ctx, "bad", netip.MustParsePrefix("192.0.2.1/24")); err == nil || !strings.Contains(err.Error(), "198.18.0.0/15") {
		t.Errorf("outside with 192.0.2.1: %v", err)
	}
	up, err := pn.AddOutside(ctx, "upstream", netip.MustParsePrefix("198.18.100.1/24"))
	if err != nil {
		t.Fatal(err)
	}
	peer, err := pn.AddOutside(ctx, "peer", netip.MustParsePrefix("198.18.100.2/24"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pn.AddOutside(ctx, "peer", netip.MustParsePrefix("198.18.100.3/24")); err == nil {
		t.Error("a second outside named peer was accepted")
	}
	if _, err := Exec(ctx, up.NS, "ping", "-n", "-c", "1", "-W", "2", peer.Addr.Addr().String()); err != nil {
		t.Errorf("upstream -> peer over the physnet: %v", err)
	}
}
