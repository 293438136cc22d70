package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// udhcpcScript is the event script busybox udhcpc runs, doing what
// cirros' does: on bound/renew it sets the interface MTU (option 26), the
// address and the default route it was given, and it records the lease
// (as KEY=VALUE lines, with a sequence number per event) in $LEASE_FILE
// so that tests and `vm list` can read what the VM got.
const udhcpcScript = `#!/bin/sh
# Written by neutrino's lab: busybox udhcpc's event script for a lab VM.
event=$1
seq=$(( $(sed -n 's/^seq=//p' "$LEASE_FILE" 2>/dev/null || echo 0) + 1 ))
case "$event" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set dev "$interface" up
	;;
bound|renew)
	[ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
	if ! ip -4 addr show dev "$interface" | grep -q " $ip/$mask "; then
		ip -4 addr flush dev "$interface"
		ip addr add "$ip/$mask" dev "$interface"
	fi
	if [ -n "$router" ]; then
		ip route replace default via "${router%% *}" dev "$interface"
	fi
	;;
esac
{
	echo "seq=$seq"
	echo "event=$event"
	echo "ip=$ip"
	echo "mask=$mask"
	echo "router=$router"
	echo "dns=$dns"
	echo "mtu=$mtu"
	echo "lease=$lease"
	echo "serverid=$serverid"
	echo "staticroutes=$staticroutes"
} > "$LEASE_FILE.tmp" && mv "$LEASE_FILE.tmp" "$LEASE_FILE"
exit 0
`

// Lease is what a VM's DHCP client was last given.
type Lease struct {
	Seq      int          `json:"-"`     // increases with every event the script saw
	Event    string       `json:"event"` // bound, renew, deconfig, nak, leasefail
	Addr     netip.Prefix `json:"address"`
	Router   netip.Addr   `json:"router"`
	DNS      []netip.Addr `json:"dns,omitempty"`
	MTU      int          `json:"mtu,omitempty"`
	Lease    int          `json:"lease_seconds,omitempty"`
	ServerID netip.Addr   `json:"server"`
	// StaticRoutes is option 121 as udhcpc gives it: "DEST GW DEST GW".
	StaticRoutes string `json:"static_routes,omitempty"`
}

// String is the lease as `vm list` shows it.
func (l Lease) String() string {
	s := l.Addr.String()
	if l.Router.IsValid() {
		s += " via " + l.Router.String()
	}
	if l.MTU > 0 {
		s += fmt.Sprintf(" mtu %d", l.MTU)
	}
	if len(l.DNS) > 0 {
		var d []string
		for _, a := range l.DNS {
			d = append(d, a.String())
		}
		s += " dns " + strings.Join(d, ",")
	}
	return s
}

// DHCPClient is busybox udhcpc (what cirros runs) asking for an address on
// a VM's interface, in the VM's namespace.
type DHCPClient struct {
	NS, Dev string
	// Dir holds the event script and the lease file.
	Dir  string
	proc *Proc
}

// LeaseFile is where the event script records the lease of dev.
func LeaseFile(dir, dev string) string { return filepath.Join(dir, dev+".lease") }

func writeScript(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, "udhcpc.script")
	if err := os.WriteFile(p, []byte(udhcpcScript), 0o755); err != nil {
		return "", fmt.Errorf("udhcpc script: %w", err)
	}
	return p, nil
}

// udhcpcArgs asks for the MTU and classless routes besides udhcpc's
// defaults (subnet, router, DNS, ...), as cirros does.
func udhcpcArgs(dev, script string) []string {
	return []string{"busybox", "udhcpc", "-i", dev, "-s", script, "-O", "mtu", "-O", "staticroutes", "-t", "10", "-T", "1"}
}

// StartDHCPClient runs udhcpc in the foreground in ns on dev (a child of
// this process, ended by Stop), recording leases under dir.
func StartDHCPClient(ns, dev, dir string) (*DHCPClient, error) {
	script, err := writeScript(dir)
	if err != nil {
		return nil, err
	}
	c := &DHCPClient{NS: ns, Dev: dev, Dir: dir}
	argv := append(udhcpcArgs(dev, script), "-f")
	p, err := startEnv(ns, []string{"LEASE_FILE=" + LeaseFile(dir, dev)}, argv...)
	if err != nil {
		return nil, err
	}
	c.proc = p
	return c, nil
}

// DHCPOnce runs udhcpc in ns on dev until it has a lease (or gives up
// after about 10 s), applying what it got, and returns the lease. No
// process is left running: the lease is long and a lab VM lives shorter.
func DHCPOnce(ctx context.Context, ns, dev, dir string) (Lease, error) {
	script, err := writeScript(dir)
	if err != nil {
		return Lease{}, err
	}
	argv := append(udhcpcArgs(dev, script), "-q", "-n", "-f")
	p, err := startEnv(ns, []string{"LEASE_FILE=" + LeaseFile(dir, dev)}, argv...)
	if err != nil {
		return Lease{}, err
	}
	defer p.Stop()
	if err := p.Wait(ctx); err != nil {
		return Lease{}, fmt.Errorf("udhcpc on %s in %s: %w: %s", dev, ns, err, strings.TrimSpace(p.Output()))
	}
	l, err := ReadLease(LeaseFile(dir, dev))
	if err != nil {
		return Lease{}, err
	}
	if l.Event != "bound" && l.Event != "renew" {
		return l, fmt.Errorf("udhcpc on %s in %s: no lease (last event %q): %s", dev, ns, l.Event, strings.TrimSpace(p.Output()))
	}
	return l, nil
}

// Lease reads the lease the client last recorded.
func (c *DHCPClient) Lease() (Lease, error) { return ReadLease(LeaseFile(c.Dir, c.Dev)) }

// WaitLease waits until the recorded lease satisfies ok.
func (c *DHCPClient) WaitLease(ctx context.Context, ok func(Lease) bool) (Lease, error) {
	var last Lease
	for {
		if l, err := c.Lease(); err == nil {
			last = l
			if ok(l) {
				return l, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("waiting for a lease on %s in %s (last %+v; udhcpc said: %s): %w", c.Dev, c.NS, last, strings.TrimSpace(c.proc.Output()), ctx.Err())
		case <-c.proc.Done():
			return last, fmt.Errorf("udhcpc on %s in %s exited: %s", c.Dev, c.NS, strings.TrimSpace(c.proc.Output()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Renew makes udhcpc renew its lease now (SIGUSR1).
func (c *DHCPClient) Renew() error { return c.proc.Cmd.Process.Signal(syscall.SIGUSR1) }

// Output is what udhcpc logged.
func (c *DHCPClient) Output() string { return c.proc.Output() }

// Stop ends udhcpc (by PID).
func (c *DHCPClient) Stop() error { return c.proc.Stop() }

// ReadLease parses a lease file written by the event script.
func ReadLease(path string) (Lease, error) {
	f, err := os.Open(path)
	if err != nil {
		return Lease{}, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return Lease{}, err
	}
	var l Lease
	var errs []error
	l.Seq, _ = strconv.Atoi(kv["seq"])
	l.Event = kv["event"]
	if kv["ip"] != "" {
		p, err := netip.ParsePrefix(kv["ip"] + "/" + kv["mask"])
		errs = append(errs, err)
		l.Addr = p
	}
	if r := strings.Fields(kv["router"]); len(r) > 0 {
		l.Router, err = netip.ParseAddr(r[0])
		errs = append(errs, err)
	}
	for _, d := range strings.Fields(kv["dns"]) {
		a, err := netip.ParseAddr(d)
		errs = append(errs, err)
		l.DNS = append(l.DNS, a)
	}
	if kv["mtu"] != "" {
		l.MTU, err = strconv.Atoi(kv["mtu"])
		errs = append(errs, err)
	}
	if kv["lease"] != "" {
		l.Lease, err = strconv.Atoi(kv["lease"])
		errs = append(errs, err)
	}
	if kv["serverid"] != "" {
		l.ServerID, err = netip.ParseAddr(kv["serverid"])
		errs = append(errs, err)
	}
	l.StaticRoutes = kv["staticroutes"]
	if err := errors.Join(errs...); err != nil {
		return l, fmt.Errorf("lease file %s: %w", path, err)
	}
	return l, nil
}
