package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Node is one agent host made by bench/reference/agents.sh.
type Node struct{ NS, RunDir, Host string }

// loadNodes reads `agents.sh env`.
func loadNodes(ctx context.Context, refDir string) ([]Node, error) {
	out, err := exec.CommandContext(ctx, "bash", filepath.Join(refDir, "agents.sh"), "env").Output()
	if err != nil {
		return nil, fmt.Errorf("agents.sh env: %w", err)
	}
	var nodes []Node
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var n Node
		for _, f := range strings.Fields(sc.Text()) {
			k, v, _ := strings.Cut(f, "=")
			switch {
			case strings.HasSuffix(k, "_NS"):
				n.NS = v
			case strings.HasSuffix(k, "_OVS_RUNDIR"):
				n.RunDir = v
			case strings.HasSuffix(k, "_HOST"):
				n.Host = v
			}
		}
		if n.NS != "" && n.RunDir != "" && n.Host != "" {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) < 2 {
		return nil, fmt.Errorf("agents.sh env: want 2 nodes, got %q", out)
	}
	return nodes, nil
}

// ovs runs an OVS tool against the node's own daemons (their unix sockets
// live in its run dir, so this works from the root namespace).
func (n Node) ovs(ctx context.Context, tool string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+n.RunDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s on %s: %w: %s", tool, strings.Join(args, " "), n.Host, err, out)
	}
	return string(out), nil
}

// plug attaches a port the way Nova/os-vif does: an OVS interface on br-int
// with external_ids iface-id/attached-mac/iface-status/vm-uuid, link up.
func (n Node) plug(ctx context.Context, portID, mac, vm string) error {
	tap := "tap" + portID[:11]
	_, err := n.ovs(ctx, "ovs-vsctl", "--may-exist", "add-port", "br-int", tap, "--", "set", "Interface", tap,
		"type=internal", "mac=\""+mac+"\"", "external_ids:iface-id="+portID, "external_ids:attached-mac="+mac,
		"external_ids:iface-status=active", "external_ids:vm-uuid="+vm)
	if err != nil {
		return err
	}
	// The hypervisor brings the VM's link up (libvirt does for a tap); an
	// agent may wait for that (neutrino does, Neutron's does not).
	if out, err := exec.CommandContext(ctx, "ip", "-n", n.NS, "link", "set", tap, "up").CombinedOutput(); err != nil {
		return fmt.Errorf("link %s up on %s: %w: %s", tap, n.Host, err, out)
	}
	return nil
}

// hasUnicastEntry: the l2pop unicast flow for mac in br-tun's table 20
// (priority 2, dl_dst=<mac>), Neutron's layout, which neutrino keeps.
func (n Node) hasUnicastEntry(ctx context.Context, mac string) (bool, error) {
	out, err := n.ovs(ctx, "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br-tun", "table=20")
	if err != nil {
		return false, err
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "priority=2") && strings.Contains(l, "dl_dst="+mac) {
			return true, nil
		}
	}
	return false, nil
}

// ConvergeSample is one port's timeline (seconds from plugging it).
type ConvergeSample struct {
	ActiveS float64 `json:"plug_to_active_s"`
	FDBS    float64 `json:"plug_to_fdb_s"`
}

// pollUntil calls probe every 10 ms until it reports true and stores the
// midpoint of that probe, in seconds since t0, in *at.
func pollUntil(ctx context.Context, t0 time.Time, at *float64, probe func() (bool, error)) error {
	for {
		b := time.Now()
		ok, err := probe()
		if err != nil {
			return err
		}
		if ok {
			*at = (b.Sub(t0) + time.Since(b)/2).Seconds()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Converge measures, k times: plug a port bound to node 1, then the time
// until the API says ACTIVE and until node 2's br-tun has its unicast
// forwarding entry (l2pop). Node 2 hosts a port of the same network first,
// since l2pop only tells agents that host the network.
func Converge(ctx context.Context, log *slog.Logger, c *Client, nodes []Node, k int) ([]ConvergeSample, error) {
	n1, n2 := nodes[0], nodes[1]
	net, err := freshNet(ctx, c, "bench-converge", "10.80.0.0/24")
	if err != nil {
		return nil, err
	}
	bind := func(n Node) map[string]any {
		return map[string]any{"binding:host_id": n.Host, "device_owner": "compute:nova"}
	}
	waitActive := func(id string, limit time.Duration) error {
		end := time.Now().Add(limit)
		for time.Now().Before(end) {
			st, err := c.PortStatus(ctx, id)
			if err != nil {
				return err
			}
			if st == "ACTIVE" {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return fmt.Errorf("port %s not ACTIVE after %s", id, limit)
	}
	idB, macB, err := c.CreatePortMAC(ctx, net, "conv-b", bind(n2))
	if err != nil {
		return nil, err
	}
	if err := n2.plug(ctx, idB, macB, "bench-vm-b"); err != nil {
		return nil, err
	}
	if err := waitActive(idB, 90*time.Second); err != nil {
		return nil, fmt.Errorf("anchor port on %s: %w", n2.Host, err)
	}
	var out []ConvergeSample
	for i := 0; i < k; i++ {
		id, mac, err := c.CreatePortMAC(ctx, net, fmt.Sprintf("conv-%d", i), bind(n1))
		if err != nil {
			return out, err
		}
		t0 := time.Now()
		if err := n1.plug(ctx, id, mac, fmt.Sprintf("bench-vm-%d", i)); err != nil {
			return out, err
		}
		var s ConvergeSample
		// Two pollers, each as fast as its probe allows; an event's time is
		// the midpoint of the first probe that saw it (a Neutron GET takes
		// 0.1-0.3 s here, so the midpoint halves that error).
		pctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		errc := make(chan error, 2)
		go func() {
			errc <- pollUntil(pctx, t0, &s.ActiveS, func() (bool, error) {
				st, err := c.PortStatus(pctx, id)
				return st == "ACTIVE", err
			})
		}()
		go func() {
			errc <- pollUntil(pctx, t0, &s.FDBS, func() (bool, error) { return n2.hasUnicastEntry(pctx, mac) })
		}()
		err1, err2 := <-errc, <-errc
		cancel()
		if err := errors.Join(err1, err2); err != nil {
			return out, fmt.Errorf("port %s (ACTIVE after %.2f s, entry on %s after %.2f s; 0 = not seen): %w", id, s.ActiveS, n2.Host, s.FDBS, err)
		}
		log.Info("convergence", "port", i, "plug_to_active", FormatValue(Latency, s.ActiveS), "plug_to_fdb", FormatValue(Latency, s.FDBS))
		out = append(out, s)
	}
	return out, nil
}
