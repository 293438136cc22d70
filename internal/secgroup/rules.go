// Package secgroup holds Neutron's security-group semantics as pure
// functions: rule validation and normalisation (Neutron 2023.1's
// SecurityGroupDbMixin rules: protocol names and numbers, port ranges and
// ICMP type/code, ethertype against the remote prefix and protocol,
// remote prefix or remote group), the duplicate-rule key, the rules every
// new group gets, and the firewall a host must enforce for its ports
// (Filter, Members): rules by group, allowed source addresses, remote
// groups resolved to member addresses. No I/O: ml2 calls the validation
// inside its transaction, l2pop the view functions.
package secgroup

import (
	"net/netip"
	"strconv"
	"strings"

	"neutrino/internal/neutron"
)

// Directions and ethertypes as Neutron spells them.
const (
	Ingress = "ingress"
	Egress  = "egress"
	IPv4    = "IPv4"
	IPv6    = "IPv6"
)

// protocols is neutron-lib's IP_PROTOCOL_MAP: the names a rule may use.
var protocols = map[string]uint8{
	"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1, "igmp": 2, "ip": 0,
	"ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60,
	"ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17,
	"udplite": 136, "vrrp": 112,
}

// Protocol numbers with a meaning here.
const (
	protoICMP   = 1
	protoICMPv6 = 58
)

// portProtocols have port ranges (Neutron's SG_PORT_PROTO_NUMS).
var portProtocols = map[uint8]bool{6: true, 17: true, 33: true, 132: true, 136: true}

// ipv6Only are the protocols that conflict with ethertype IPv4.
var ipv6Only = map[string]bool{
	"ipv6-encap": true, "ipv6-frag": true, "ipv6-icmp": true, "icmpv6": true, "ipv6-nonxt": true,
	"ipv6-opts": true, "ipv6-route": true, "41": true, "44": true, "58": true, "59": true, "60": true, "43": true,
}

// supportedList renders the accepted protocol values as Neutron's message
// shows its Python list (None, then IP_PROTOCOL_MAP's names in its order).
const supportedList = "[None, 'ah', 'dccp', 'egp', 'esp', 'gre', 'hopopt', 'icmp', 'igmp', 'ip', 'ipip', 'ipv6-encap', " +
	"'ipv6-frag', 'ipv6-icmp', 'icmpv6', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp']"

// protocolNumber resolves a normalised protocol (name or decimal text) to
// its number; ok is false for nil (any).
func protocolNumber(p *string) (n uint8, ok bool) {
	if p == nil {
		return 0, false
	}
	if v, found := protocols[*p]; found {
		return v, true
	}
	if *p == "icmpv6" {
		return protoICMPv6, true
	}
	v, err := strconv.Atoi(*p)
	if err != nil || v < 0 || v > 255 {
		return 0, false
	}
	return uint8(v), true
}

// InvalidPort is Neutron's SecurityGroupInvalidPortValue (also what the
// API answers for a port value that is not a number).
func InvalidPort(v string) error {
	return bad("SecurityGroupInvalidPortValue", "Invalid value for port %s", v)
}

// InvalidEtherType is Neutron's SecurityGroupRuleInvalidEtherType (also
// what the API answers for an ethertype that is not a string).
func InvalidEtherType(v any) error {
	return bad("SecurityGroupRuleInvalidEtherType", "Security group rule for ethertype '%v' not supported. Allowed values are ['IPv4', 'IPv6'].", v)
}

func bad(typ, format string, args ...any) error {
	return neutron.Errorf(400, typ, format, args...)
}

// normProtocol is the API's convert_protocol: names are case-insensitive,
// numbers 0-255 are kept as their text. nil and "any" mean any: "any" is
// accepted as later Neutron releases do (2023.1 refuses it; its client
// turns --protocol any into null itself).
func normProtocol(p *string) (*string, error) {
	if p == nil {
		return nil, nil
	}
	v := strings.ToLower(strings.TrimSpace(*p))
	if v == "any" {
		return nil, nil
	}
	if _, ok := protocols[v]; ok || v == "icmpv6" {
		return &v, nil
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 255 {
		s := strconv.Itoa(n)
		return &s, nil
	}
	return nil, bad("SecurityGroupRuleInvalidProtocol",
		"Security group rule protocol %s not supported. Only protocol values %s and integer representations [0 to 255] are supported.", *p, supportedList)
}

// Normalize validates a rule request as Neutron 2023.1 does and returns
// the rule it stores (without id and timestamps). Existence of the group
// and the remote group is the caller's (a database) question.
func Normalize(req neutron.SecurityGroupRuleCreate) (neutron.SecurityGroupRule, error) {
	r := neutron.SecurityGroupRule{ProjectID: req.ProjectID, SecurityGroupID: req.SecurityGroupID,
		PortRangeMin: req.PortRangeMin, PortRangeMax: req.PortRangeMax, RemoteGroupID: req.RemoteGroupID, Description: req.Description}
	switch req.Direction {
	case Ingress, Egress:
		r.Direction = req.Direction
	default:
		return r, neutron.InvalidInput("Invalid input for direction. Reason: '%s' is not in ['ingress', 'egress'].", req.Direction)
	}
	switch strings.ToLower(req.Ethertype) {
	case "", "ipv4":
		r.Ethertype = IPv4
	case "ipv6":
		r.Ethertype = IPv6
	default:
		return r, InvalidEtherType(req.Ethertype)
	}
	for _, v := range []*int{r.PortRangeMin, r.PortRangeMax} {
		if v != nil && (*v < 0 || *v > 65535) {
			return r, InvalidPort(strconv.Itoa(*v))
		}
	}
	var err error
	if r.Protocol, err = normProtocol(req.Protocol); err != nil {
		return r, err
	}
	if r.Ethertype == IPv6 && r.Protocol != nil {
		// Legacy IPv6 ICMP spellings become ipv6-icmp (and 1 becomes 58).
		switch *r.Protocol {
		case "icmp", "icmpv6":
			r.Protocol = ptr("ipv6-icmp")
		case "1":
			r.Protocol = ptr("58")
		}
	}
	if r.PortRangeMin != nil && r.PortRangeMax != nil && *r.PortRangeMin == 1 && *r.PortRangeMax == 65535 {
		// The whole range is no range (Neutron's canonical form).
		r.PortRangeMin, r.PortRangeMax = nil, nil
	}
	if err := checkPorts(r); err != nil {
		return r, err
	}
	if req.RemoteIPPrefix != nil && *req.RemoteIPPrefix != "" {
		pfx, err := parsePrefix(*req.RemoteIPPrefix)
		if err != nil {
			return r, bad("InvalidCIDR", "Invalid CIDR %s given as IP prefix.", *req.RemoteIPPrefix)
		}
		if v := etherOf(pfx.Addr()); v != r.Ethertype {
			return r, bad("SecurityGroupRuleParameterConflict", "Conflicting value ethertype %s for CIDR %s", r.Ethertype, *req.RemoteIPPrefix)
		}
		r.RemoteIPPrefix = ptr(pfx.String())
	}
	if r.Protocol != nil && ipv6Only[*r.Protocol] && r.Ethertype == IPv4 {
		return r, bad("SecurityGroupEthertypeConflictWithProtocol", "Invalid ethertype %s for protocol %s.", r.Ethertype, *r.Protocol)
	}
	if r.RemoteIPPrefix != nil && r.RemoteGroupID != nil && *r.RemoteGroupID != "" {
		return r, bad("SecurityGroupMultipleRemoteEntites", "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.")
	}
	if r.RemoteGroupID != nil && *r.RemoteGroupID == "" {
		r.RemoteGroupID = nil
	}
	return r, nil
}

// checkPorts is Neutron's _validate_port_range.
func checkPorts(r neutron.SecurityGroupRule) error {
	lo, hi := r.PortRangeMin, r.PortRangeMax
	if lo == nil && hi == nil {
		return nil
	}
	proto, ok := protocolNumber(r.Protocol)
	if !ok {
		return bad("SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol if port range is given.")
	}
	switch {
	case portProtocols[proto]:
		if lo != nil && *lo == 0 || hi != nil && *hi == 0 {
			return InvalidPort("0")
		}
		if lo == nil || hi == nil || *lo > *hi {
			return bad("SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max")
		}
	case proto == protoICMP || proto == protoICMPv6:
		for _, f := range []struct {
			attr, field string
			v           *int
		}{{"port_range_min", "type", lo}, {"port_range_max", "code", hi}} {
			if f.v != nil && (*f.v < 0 || *f.v > 255) {
				return bad("SecurityGroupInvalidIcmpValue", "Invalid value for ICMP %s (%s) %d. It must be 0 to 255.", f.field, f.attr, *f.v)
			}
		}
		if lo == nil && hi != nil {
			return bad("SecurityGroupMissingIcmpType", "ICMP code (port-range-max) %d is provided but ICMP type (port-range-min) is missing.", *hi)
		}
	default:
		return bad("SecurityGroupInvalidProtocolForPort",
			"Ports cannot be specified for protocol %d. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE.", proto)
	}
	return nil
}

// parsePrefix accepts a CIDR or a bare address (a /32 or /128), keeping
// host bits as Neutron does ("10.0.0.5/24" stays as given).
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, err
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()), nil
}

func etherOf(a netip.Addr) string {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

func ptr[T any](v T) *T { return &v }

// Key is the identity of a rule for duplicate detection (Neutron's
// _rule_to_key): protocol names and numbers compare equal, a remote
// prefix of 0.0.0.0/0 or ::/0 equals none; description does not count.
func Key(r neutron.SecurityGroupRule) string {
	proto := "+"
	if n, ok := protocolNumber(r.Protocol); ok {
		proto = strconv.Itoa(int(n))
	}
	prefix := "+"
	if r.RemoteIPPrefix != nil && *r.RemoteIPPrefix != "0.0.0.0/0" && *r.RemoteIPPrefix != "::/0" {
		prefix = *r.RemoteIPPrefix
	}
	return strings.Join([]string{r.SecurityGroupID, r.Direction, r.Ethertype, intText(r.PortRangeMin), intText(r.PortRangeMax),
		proto, strText(r.RemoteGroupID), prefix}, "_")
}

func intText(p *int) string {
	if p == nil {
		return "+"
	}
	return strconv.Itoa(*p)
}

func strText(p *string) string {
	if p == nil {
		return "+"
	}
	return *p
}

// Duplicate reports the existing rule a new one duplicates (Neutron's
// SecurityGroupRuleExists, 409), or nil.
func Duplicate(rule neutron.SecurityGroupRule, existing []neutron.SecurityGroupRule) error {
	k := Key(rule)
	for _, e := range existing {
		if Key(e) == k {
			return neutron.Conflict("SecurityGroupRuleExists", "Security group rule already exists. Rule id is %s.", e.ID)
		}
	}
	return nil
}

// DefaultRules are the rules Neutron gives a new group: egress to
// anywhere for IPv4 and IPv6, and for the project's default group also
// ingress from members of the group itself. IDs and times are the
// caller's; descriptions are null as Neutron's.
func DefaultRules(project, group string, isDefault bool) []neutron.SecurityGroupRule {
	var out []neutron.SecurityGroupRule
	for _, eth := range []string{IPv4, IPv6} {
		if isDefault {
			out = append(out, neutron.SecurityGroupRule{ProjectID: project, SecurityGroupID: group, Direction: Ingress, Ethertype: eth, RemoteGroupID: ptr(group)})
		}
		out = append(out, neutron.SecurityGroupRule{ProjectID: project, SecurityGroupID: group, Direction: Egress, Ethertype: eth})
	}
	return out
}
