package demo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"neutrino/internal/lab"
	"neutrino/internal/vxlan"
)

// capture records VXLAN (UDP 4789) frames on one node's port of the
// underlay bridge: what the node sends arrives there (Outgoing false),
// what is sent to the node leaves there (Outgoing true).
type capture struct {
	cancel context.CancelFunc
	recs   []captured
	errf   func() error
	done   chan struct{}
}

type captured struct {
	node string
	rec  vxlan.Record
}

func (d *runner) startCapture(ctx context.Context, nodes ...string) (*capture, error) {
	cctx, cancel := context.WithCancel(ctx)
	c := &capture{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errfs []func() error
	for _, name := range nodes {
		ch, errf, err := openCapture(cctx, d.lab.Underlay, d.nodes[name].Port)
		if err != nil {
			cancel()
			wg.Wait()
			return nil, fmt.Errorf("capture on %s's underlay port: %w", name, err)
		}
		errfs = append(errfs, errf)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range ch {
				mu.Lock()
				c.recs = append(c.recs, captured{node: name, rec: r})
				mu.Unlock()
			}
		}()
	}
	go func() { wg.Wait(); close(c.done) }()
	c.errf = func() error {
		var errs []error
		for _, f := range errfs {
			errs = append(errs, f())
		}
		return errors.Join(errs...)
	}
	return c, nil
}

// stop lets frames in flight (copies, replies) arrive, then ends the
// capture and returns the frames in time order.
func (c *capture) stop() ([]captured, error) {
	time.Sleep(300 * time.Millisecond)
	c.cancel()
	<-c.done
	sort.SliceStable(c.recs, func(i, j int) bool { return c.recs[i].rec.Time.Before(c.recs[j].rec.Time) })
	return c.recs, c.errf()
}

// pingStep pings the VM on compute-1 from the qrouter namespace with the
// seed's command and shows the decoded capture from the controller's
// underlay port.
func (d *runner) pingStep(ctx context.Context) error {
	vm := d.res.VMs[0]
	// Warm-up: resolves ARP and proves the path, so the captured ping is
	// the seed's single ICMP exchange.
	err := poll(ctx, "first ping "+vm.IP, waitPlane, func() (bool, string) {
		_, err := lab.Exec(ctx, d.router.Namespace, "ping", "-n", "-c", "1", "-W", "1", vm.IP)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	if err != nil {
		return err
	}
	c, err := d.startCapture(ctx, "controller")
	if err != nil {
		return err
	}
	argv := []string{"ip", "netns", "exec", d.router.Namespace, "ping", "-c", "1", vm.IP}
	out, perr := seedCmd(ctx, argv...)
	recs, cerr := c.stop()
	if cerr != nil {
		return cerr
	}
	recs = d.routersOwn(recs)
	if m := pingCounts.FindStringSubmatch(string(out)); m != nil {
		d.res.RouterPing.Sent, _ = strconv.Atoi(m[1])
		d.res.RouterPing.Received, _ = strconv.Atoi(m[2])
	}
	d.say("[root@controller ~]# %s\n%s", strings.Join(argv, " "), indent(pingSummary(string(out)), "    "))
	if perr != nil {
		return fmt.Errorf("ping %s from the router namespace: %w", vm.IP, perr)
	}
	file, err := d.writePcap("ping", recs)
	if err != nil {
		return err
	}
	d.say("\nCaptured on the controller's underlay port (%d packets, %s):\n", len(recs), file)
	for _, r := range recs {
		p, text := decode(r.rec)
		d.res.PingCapture = append(d.res.PingCapture, p)
		d.say("  %s\n", text)
	}
	for _, r := range recs {
		var p vxlan.Packet
		if err := vxlan.Decode(r.rec.Data, &p); err != nil || !p.IsVXLAN || p.Inner.Layers&vxlan.LayerICMP == 0 {
			continue
		}
		d.say("\nThe echo request, header by header (as Wireshark shows the seed's capture):\n%s", indent(layers(&p), "  "))
		d.say("The ping crossed the underlay as one unicast VXLAN packet each way, %s <-> %s, VNI %d.\n",
			p.Outer.IPv4.Src, p.Outer.IPv4.Dst, p.VXLAN.VNI)
		break
	}
	return nil
}

// routersOwn keeps the router's own packets (ARP it asked or was answered,
// IPv4 from or to it) and any frame it cannot decode. Other hosts on
// testnet talk in the same moment: the DHCP namespace's kernel refreshes
// its neighbour entries of the VMs (by broadcast or unicast ARP) and gets
// its answers, which the measurement is not about.
func (d *runner) routersOwn(recs []captured) []captured {
	var mine []captured
	for _, r := range recs {
		p, _ := decode(r.rec)
		switch {
		case p.innerARP == vxlan.ARPRequest && p.arpSender != d.rtrIP,
			p.innerARP == vxlan.ARPReply && p.arpTarget != d.rtrIP,
			p.InnerSrc.IsValid() && p.InnerSrc != d.rtrIP && p.InnerDst != d.rtrIP:
			continue
		}
		mine = append(mine, r)
	}
	return mine
}

func pingSummary(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "bytes from") || strings.Contains(l, "packets transmitted") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	return strings.Join(keep, "\n")
}

var arpingReplyRE = regexp.MustCompile(`(?i)reply from (\S+) \[([0-9a-f:]+)\]`)

// floodStep sends one ARP broadcast for the compute-1 VM from the router
// namespace and counts its copies on the underlay.
func (d *runner) floodStep(ctx context.Context, mode, pcapName string) error {
	vm := d.res.VMs[0]
	target, _ := netip.ParseAddr(vm.IP)
	nodes := []string{"controller"}
	has3 := d.nodes["compute-3"] != nil
	if has3 {
		nodes = append(nodes, "compute-3")
	}
	c, err := d.startCapture(ctx, nodes...)
	if err != nil {
		return err
	}
	argv := []string{"ip", "netns", "exec", d.router.Namespace, "arping", "-c", "1", "-I", d.router.Interface, vm.IP}
	out, aerr := seedCmd(ctx, argv...)
	recs, cerr := c.stop()
	if cerr != nil {
		return cerr
	}
	f := Flood{Mode: mode, Compute3: -1}
	if has3 {
		f.Compute3 = 0
	}
	ctlIP := d.nodes["controller"].IP()
	recs = d.routersOwn(recs)
	var lines []string
	for _, r := range recs {
		p, text := decode(r.rec)
		isReq := p.IsVXLAN && p.innerARP == vxlan.ARPRequest && p.arpTarget == target
		switch {
		case r.node == "controller" && !r.rec.Outgoing && p.OuterSrc == ctlIP && isReq:
			f.Copies = append(f.Copies, p.OuterDst)
			lines = append(lines, "  copy     "+text)
		case r.node == "controller" && r.rec.Outgoing && p.IsVXLAN && p.innerARP == vxlan.ARPReply:
			f.ReplyVia = p.OuterSrc
			lines = append(lines, "  reply    "+text)
		case r.node == "compute-3" && r.rec.Outgoing && isReq:
			f.Compute3++
			lines = append(lines, "  at c-3   "+text)
		}
	}
	if m := arpingReplyRE.FindStringSubmatch(string(out)); m != nil {
		for _, v := range d.res.VMs {
			if strings.EqualFold(v.MAC, m[2]) {
				f.AnsweredBy = "the VM on " + v.Host + " (" + v.IP + ")"
				f.AnsweredHost = v.Host
			}
		}
		if f.AnsweredBy == "" {
			f.AnsweredBy = "unknown MAC " + m[2]
		}
	}
	file, err := d.writePcap(pcapName, recs)
	if err != nil {
		return err
	}
	f.Pcap = file
	d.res.Floods = append(d.res.Floods, f)
	d.res.Pcaps = append(d.res.Pcaps, file)

	d.say("\n[root@controller ~]# %s\n", strings.Join(argv, " "))
	d.say("%s", indent(arpingSummary(string(out)), "    "))
	d.say("\nOn the underlay (%s; copy = sent by the controller, at c-3 = delivered to compute-3):\n", file)
	if len(lines) == 0 {
		d.say("  (no VXLAN packet at all)\n")
	}
	for _, l := range lines {
		d.say("%s\n", l)
	}
	d.say("\n=> %s: the broadcast left the controller as %d VXLAN packet(s)", mode, len(f.Copies))
	if len(f.Copies) > 0 {
		d.say(" to %s", addrList(sortAddrs(append([]netip.Addr(nil), f.Copies...))))
	}
	d.say(".\n")
	if has3 {
		d.say("   compute-3 (no port of testnet) received %d of them.\n", f.Compute3)
	}
	switch {
	case f.AnsweredBy == "":
		d.say("   Nobody answered.\n")
	case f.ReplyVia.IsValid():
		d.say("   %s answered; the reply came back over the underlay from %s.\n", f.AnsweredBy, f.ReplyVia)
	default:
		d.say("   The answer (the MAC of %s) never crossed the underlay: the controller's ARP responder replied.\n", f.AnsweredBy)
	}
	if aerr != nil && f.AnsweredBy == "" {
		return fmt.Errorf("arping %s: %w", vm.IP, aerr)
	}
	return nil
}

func arpingSummary(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "reply from") || strings.HasPrefix(l, "Sent") || strings.HasPrefix(l, "Received") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	return strings.Join(keep, "\n")
}

func (d *runner) writePcap(name string, recs []captured) (string, error) {
	file := filepath.Join(d.opt.Dir, "pcap", name+".pcap")
	rs := make([]vxlan.Record, len(recs))
	for i, r := range recs {
		rs[i] = r.rec
	}
	if err := writePcapFile(file, rs); err != nil {
		return "", err
	}
	if name == "ping" {
		d.res.Pcaps = append(d.res.Pcaps, file)
	}
	return file, nil
}
