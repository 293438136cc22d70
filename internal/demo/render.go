package demo

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"neutrino/internal/vxlan"
)

// table renders rows as an aligned text table; boxed adds the +---+ rules
// of `nova list`.
func table(head []string, rows [][]string, boxed bool) string {
	width := make([]int, len(head))
	for _, r := range append([][]string{head}, rows...) {
		for i, c := range r {
			if i < len(width) {
				width[i] = max(width[i], len(c))
			}
		}
	}
	var b strings.Builder
	rule := func() {
		b.WriteString("+")
		for _, w := range width {
			b.WriteString(strings.Repeat("-", w+2) + "+")
		}
		b.WriteString("\n")
	}
	line := func(r []string) {
		if boxed {
			b.WriteString("|")
		}
		for i, w := range width {
			c := ""
			if i < len(r) {
				c = r[i]
			}
			if boxed {
				b.WriteString(" " + c + strings.Repeat(" ", w-len(c)) + " |")
			} else {
				pad := strings.Repeat(" ", w-len(c))
				if i == len(width)-1 {
					pad = ""
				}
				if i > 0 {
					b.WriteString("  ")
				}
				b.WriteString(c + pad)
			}
		}
		b.WriteString("\n")
	}
	if boxed {
		rule()
	}
	line(head)
	if boxed {
		rule()
	} else {
		u := make([]string, len(head))
		for i, w := range width {
			u[i] = strings.Repeat("-", w)
		}
		line(u)
	}
	for _, r := range rows {
		line(r)
	}
	if boxed {
		rule()
	}
	return b.String()
}

// bridgeSection cuts bridge's block out of `ovs-vsctl show` output: its
// "Bridge NAME" line and every deeper-indented line after it.
func bridgeSection(show, bridge string) string {
	var out []string
	depth := -1
	for _, l := range strings.Split(show, "\n") {
		trim := strings.TrimLeft(l, " ")
		ind := len(l) - len(trim)
		if depth >= 0 {
			if trim == "" || ind <= depth {
				break
			}
			out = append(out, l)
			continue
		}
		if trim == "Bridge "+bridge || trim == `Bridge "`+bridge+`"` {
			depth = ind
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

var remoteIPRE = regexp.MustCompile(`remote_ip="?([0-9a-f.:]+)"?`)

// tunnelRemotes lists the remote_ip of every tunnel in an `ovs-vsctl show`
// block, sorted.
func tunnelRemotes(section string) []netip.Addr {
	var out []netip.Addr
	for _, m := range remoteIPRE.FindAllStringSubmatch(section, -1) {
		if a, err := netip.ParseAddr(m[1]); err == nil {
			out = append(out, a)
		}
	}
	return sortAddrs(out)
}

// floodDsts reads `bridge fdb show dev vxlan-N`: the destinations of the
// all-zeros entries, which are the head-end replication list.
func floodDsts(fdb string) []netip.Addr {
	var out []netip.Addr
	for _, l := range strings.Split(fdb, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "00:00:00:00:00:00" {
			continue
		}
		for i := 1; i+1 < len(f); i++ {
			if f[i] == "dst" {
				if a, err := netip.ParseAddr(f[i+1]); err == nil {
					out = append(out, a)
				}
			}
		}
	}
	return sortAddrs(out)
}

func sortAddrs(a []netip.Addr) []netip.Addr {
	sort.Slice(a, func(i, j int) bool { return a[i].Less(a[j]) })
	return a
}

func addrList(a []netip.Addr) string {
	if len(a) == 0 {
		return "-"
	}
	s := make([]string, len(a))
	for i, x := range a {
		s[i] = x.String()
	}
	return strings.Join(s, ", ")
}

// indent prefixes every non-empty line.
func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pre + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

var outputRE = regexp.MustCompile(`output:(\d+)`)

// floodOutputs reads `ovs-ofctl dump-flows br-tun table=22` (Neutron's
// FLOOD_TO_TUN) and returns the sorted, comma-joined output ports of its
// per-network flows ("" when there is none). The demo has one network.
func floodOutputs(flows string) string {
	var ports []int
	for _, l := range strings.Split(flows, "\n") {
		if !strings.Contains(l, "dl_vlan=") {
			continue
		}
		for _, m := range outputRE.FindAllStringSubmatch(l, -1) {
			n, _ := strconv.Atoi(m[1])
			ports = append(ports, n)
		}
	}
	return joinInts(ports)
}

// tunnelOfports reads `ovs-vsctl --bare --columns=ofport,options find
// Interface type=vxlan` and returns the ofports of the tunnels to remotes,
// sorted and comma-joined.
func tunnelOfports(out string, remotes []netip.Addr) string {
	want := map[netip.Addr]bool{}
	for _, r := range remotes {
		want[r] = true
	}
	var ports []int
	lines := strings.Split(out, "\n")
	for i := 0; i+1 < len(lines); i++ {
		n, err := strconv.Atoi(strings.TrimSpace(lines[i]))
		if err != nil {
			continue
		}
		if r := tunnelRemotes(lines[i+1]); len(r) == 1 && want[r[0]] {
			ports = append(ports, n)
		}
	}
	return joinInts(ports)
}

func joinInts(a []int) string {
	sort.Ints(a)
	s := make([]string, len(a))
	for i, n := range a {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// layers renders a VXLAN packet header by header, the way Wireshark's
// packet details pane shows the seed's unicast ICMP capture.
func layers(p *vxlan.Packet) string {
	o, in := &p.Outer, &p.Inner
	rows := [][]string{
		{"Ethernet", fmt.Sprintf("%s > %s", o.Ethernet.Src, o.Ethernet.Dst)},
		{"IPv4", fmt.Sprintf("%s > %s, ttl %d", o.IPv4.Src, o.IPv4.Dst, o.IPv4.TTL)},
		{"UDP", fmt.Sprintf("%d > %d", o.UDP.SrcPort, o.UDP.DstPort)},
		{"VXLAN", fmt.Sprintf("flags 0x%02x, VNI %d", p.VXLAN.Flags, p.VXLAN.VNI)},
		{"  Ethernet", fmt.Sprintf("%s > %s", in.Ethernet.Src, in.Ethernet.Dst)},
	}
	if in.Layers&vxlan.LayerIPv4 != 0 {
		rows = append(rows, []string{"  IPv4", fmt.Sprintf("%s > %s, ttl %d", in.IPv4.Src, in.IPv4.Dst, in.IPv4.TTL)})
	}
	if in.Layers&vxlan.LayerICMP != 0 {
		kind := map[uint8]string{vxlan.ICMPEchoRequest: "echo request", vxlan.ICMPEchoReply: "echo reply"}[in.ICMP.Type]
		if kind == "" {
			kind = fmt.Sprintf("type %d code %d", in.ICMP.Type, in.ICMP.Code)
		}
		rows = append(rows, []string{"  ICMP", fmt.Sprintf("%s, id %d, seq %d", kind, in.ICMP.ID, in.ICMP.Seq)})
	}
	if in.Layers&vxlan.LayerARP != 0 {
		rows = append(rows, []string{"  ARP", in.String()})
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-11s %s\n", r[0], r[1])
	}
	return b.String()
}
