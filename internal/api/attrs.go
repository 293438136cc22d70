package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"neutrino/internal/neutron"
)

// attribute describes one attribute of a resource, as Neutron's
// RESOURCE_ATTRIBUTE_MAP does: whether a POST or PUT may carry it,
// whether POST requires it, how its value is validated and converted,
// and the default policy (admin-only write, admin-only read).
type attribute struct {
	name       string
	post, put  bool
	required   bool
	adminWrite bool // create/update by non-admins is a 403
	adminRead  bool // stripped from responses to non-admins
	createOnly bool // rendered in POST responses only (network is_default)
	boolean    bool // filter values are booleans (set from the column's encoder)
	// conv validates a JSON value (json.Number for numbers) and returns
	// the converted Go value; nil conv means read-only (never converted).
	conv func(name string, v any) (any, *neutron.Error)
}

// resource is a collection's attribute map.
type resource struct {
	name, collection string
	attrs            []attribute
	byName           map[string]*attribute
	// extraFilters are filter names that are not attributes
	// (tags, tags-any, not-tags, not-tags-any).
	extraFilters []string
}

func newResource(name, collection string, attrs ...attribute) *resource {
	r := &resource{name: name, collection: collection, attrs: attrs, byName: map[string]*attribute{}}
	for i := range r.attrs {
		r.byName[r.attrs[i].name] = &r.attrs[i]
	}
	return r
}

// Attribute constructors (ro = read-only; rw = post+put; po = post only).
func ro(name string) attribute { return attribute{name: name} }
func rw(name string, conv func(string, any) (any, *neutron.Error)) attribute {
	return attribute{name: name, post: true, put: true, conv: conv}
}
func po(name string, conv func(string, any) (any, *neutron.Error)) attribute {
	return attribute{name: name, post: true, conv: conv}
}
func pu(name string, conv func(string, any) (any, *neutron.Error)) attribute {
	return attribute{name: name, put: true, conv: conv}
}
func (a attribute) req() attribute            { a.required = true; return a }
func (a attribute) admin() attribute          { a.adminWrite, a.adminRead = true, true; return a }
func (a attribute) adminWriteOnly() attribute { a.adminWrite = true; return a }
func (a attribute) adminReadOnly() attribute  { a.adminRead = true; return a }
func (a attribute) inCreateOnly() attribute   { a.createOnly = true; return a }

// Option flags that change which attributes exist (extensions).
type attrOptions struct {
	PortSecurity bool // extension_drivers has port_security
}

// parseBody validates a POST (post=true) or PUT body against r and returns
// the converted attribute values. It reproduces Neutron's order of checks
// and fault texts: invalid JSON, missing wrapper, unrecognized attributes,
// attributes not allowed in this method, value conversion, required ones.
func parseBody(r *resource, body []byte, post bool) (map[string]any, *neutron.Error) {
	obj, e := decodeBody(r, body)
	if e != nil {
		return nil, e
	}
	return parseItem(r, obj, post)
}

// parseCreateBody validates a POST body: one resource ({"network": {...}})
// or, when the collection key is there, a bulk create ({"networks":
// [{...}, ...]}, each item bare or wrapped in the resource key, as
// Neutron's prepare_request_body accepts), checking every item.
func parseCreateBody(r *resource, body []byte) (items []map[string]any, bulk bool, e *neutron.Error) {
	obj, e := decodeBody(r, body)
	if e != nil {
		return nil, false, e
	}
	coll, bulk := obj[r.collection]
	if !bulk {
		a, e := parseItem(r, obj, true)
		return []map[string]any{a}, false, e
	}
	list, ok := coll.([]any)
	if !ok {
		return nil, true, neutron.BadRequest("Body contains invalid data")
	}
	if len(list) == 0 {
		return nil, true, neutron.BadRequest("Resources required")
	}
	for _, it := range list {
		item, ok := it.(map[string]any)
		if !ok {
			return nil, true, neutron.BadRequest("Body contains invalid data")
		}
		if _, wrapped := item[r.name]; !wrapped {
			item = map[string]any{r.name: item}
		}
		a, e := parseItem(r, item, true)
		if e != nil {
			return nil, true, e
		}
		items = append(items, a)
	}
	return items, true, nil
}

func decodeBody(r *resource, body []byte) (map[string]any, *neutron.Error) {
	if len(body) == 0 { // Neutron skips only a truly empty body
		return nil, neutron.BadRequest("Unable to find '%s' in request body", r.name)
	}
	return decodeJSON(body)
}

// parseItem validates the object under obj's resource key.
func parseItem(r *resource, obj map[string]any, post bool) (map[string]any, *neutron.Error) {
	inner, ok := obj[r.name].(map[string]any)
	if !ok {
		return nil, neutron.BadRequest("Unable to find '%s' in request body", r.name)
	}
	var unknown []string
	for k := range inner {
		if _, ok := r.byName[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, neutron.BadRequest("Unrecognized attribute(s) '%s'", strings.Join(unknown, ", "))
	}
	out := make(map[string]any, len(inner))
	for _, a := range r.attrs {
		v, given := inner[a.name]
		if !given {
			if post && a.required {
				return nil, neutron.BadRequest("Failed to parse request. Required attribute '%s' not specified", a.name)
			}
			continue
		}
		if post && !a.post {
			return nil, neutron.BadRequest("Attribute '%s' not allowed in POST", a.name)
		}
		if !post && !a.put {
			return nil, neutron.BadRequest("Cannot update read-only attribute %s", a.name)
		}
		cv, e := a.conv(a.name, v)
		if e != nil {
			return nil, e
		}
		out[a.name] = cv
	}
	return out, nil
}

// pyStr is Python's str() of a decoded JSON value (strings bare, the rest
// as repr); pyRepr its repr, the way Neutron's messages quote values.
// Dictionary keys the body's order is lost for: extra_dhcp_opts' key-spec
// order (opt_name, opt_value, ip_version) first, then the rest sorted.
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return pyQuote(x)
	case json.Number:
		return x.String()
	case int64:
		return strconv.FormatInt(x, 10)
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = pyRepr(e)
		}
		return "[" + strings.Join(s, ", ") + "]"
	case map[string]any:
		var keys []string
		for _, k := range []string{"opt_name", "opt_value", "ip_version"} {
			if _, ok := x[k]; ok {
				keys = append(keys, k)
			}
		}
		var rest []string
		for k := range x {
			if !contains(keys, k) {
				rest = append(rest, k)
			}
		}
		slices.Sort(rest)
		s := make([]string, 0, len(x))
		for _, k := range append(keys, rest...) {
			s = append(s, pyRepr(k)+": "+pyRepr(x[k]))
		}
		return "{" + strings.Join(s, ", ") + "}"
	}
	return "?"
}

// pyQuote is Python's repr of a string: single quotes unless the string
// has one and no double quote, escapes for the quote, backslash and
// unprintable characters.
func pyQuote(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	b := []byte{q}
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			b = append(b, fmt.Sprintf(`\x%02x`, r)...)
		case !unicode.IsPrint(r) && r > 0xffff:
			b = append(b, fmt.Sprintf(`\U%08x`, r)...)
		case !unicode.IsPrint(r) && r > 0xff:
			b = append(b, fmt.Sprintf(`\u%04x`, r)...)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return string(append(b, q))
}

func invalidFor(name string, v any, reason string) *neutron.Error {
	return neutron.BadRequest("Invalid input for %s. Reason: %s %s.", name, pyRepr(v), reason)
}

func convString(max int) func(string, any) (any, *neutron.Error) {
	return func(name string, v any) (any, *neutron.Error) {
		s, ok := v.(string)
		if !ok {
			return nil, invalidFor(name, v, "is not a valid string")
		}
		// Neutron's limits are in characters, as are VARCHAR lengths on
		// every database: 255 x "é" is a valid name.
		if utf8.RuneCountInString(s) > max {
			return nil, invalidFor(name, v, fmt.Sprintf("exceeds maximum length of %d", max))
		}
		return s, nil
	}
}

func convNullableString(max int) func(string, any) (any, *neutron.Error) {
	str := convString(max)
	return func(name string, v any) (any, *neutron.Error) {
		if v == nil {
			return nil, nil
		}
		return str(name, v)
	}
}

// convNullableBool is convert_to_boolean_if_not_none: null stays null.
func convNullableBool(name string, v any) (any, *neutron.Error) {
	if v == nil {
		return nil, nil
	}
	return convBool(name, v)
}

func convBool(name string, v any) (any, *neutron.Error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(x) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
	case json.Number:
		switch x.String() {
		case "1":
			return true, nil
		case "0":
			return false, nil
		}
	}
	return nil, neutron.InvalidInput("%s cannot be converted to boolean.", pyRepr(v))
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(x.String(), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func convInt(name string, v any) (any, *neutron.Error) {
	n, ok := toInt(v)
	if !ok {
		return nil, neutron.InvalidInput("%s is not an integer", pyRepr(v))
	}
	return n, nil
}

func convNullableInt(name string, v any) (any, *neutron.Error) {
	if v == nil {
		return nil, nil
	}
	return convInt(name, v)
}

func convIPVersion(name string, v any) (any, *neutron.Error) {
	n, ok := toInt(v)
	if !ok {
		return nil, neutron.InvalidInput("%s is not an integer", pyRepr(v))
	}
	if n != 4 && n != 6 {
		return nil, invalidFor(name, v, "is not in [4, 6]")
	}
	return n, nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func convUUID(name string, v any) (any, *neutron.Error) {
	s, ok := v.(string)
	if !ok || !uuidRE.MatchString(s) {
		return nil, invalidFor(name, v, "is not a valid UUID")
	}
	return s, nil
}

func convMAC(name string, v any) (any, *neutron.Error) {
	s, ok := v.(string)
	if ok {
		if hw, err := net.ParseMAC(s); err == nil && len(hw) == 6 {
			return strings.ToLower(hw.String()), nil
		}
	}
	return nil, invalidFor(name, v, "is not a valid MAC address")
}

func convNullableIP(name string, v any) (any, *neutron.Error) {
	if v == nil {
		return "", nil // "" = no gateway
	}
	s, ok := v.(string)
	if ok {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.String(), nil
		}
	}
	return nil, invalidFor(name, v, "is not a valid IP address")
}

func convIPList(name string, v any) (any, *neutron.Error) {
	l, e := asList(name, v)
	if e != nil {
		return nil, e
	}
	out := make([]string, 0, len(l))
	seen := map[string]bool{}
	for _, x := range l {
		s, ok := x.(string)
		a, err := netip.ParseAddr(s)
		if !ok || err != nil {
			return nil, invalidFor(name, x, "is not a valid nameserver")
		}
		if seen[a.String()] {
			return nil, invalidFor(name, x, "is a duplicate nameserver")
		}
		seen[a.String()] = true
		out = append(out, a.String())
	}
	return out, nil
}

func asList(name string, v any) ([]any, *neutron.Error) {
	l, ok := v.([]any)
	if !ok {
		return nil, invalidFor(name, v, "is not a list")
	}
	return l, nil
}

func asDict(name string, v any, allowed ...string) (map[string]any, *neutron.Error) {
	d, ok := v.(map[string]any)
	if !ok {
		return nil, invalidFor(name, v, "is not a dictionary")
	}
	// In key order, so that with two unknown keys the fault names the
	// same one every time (the body's own order, which Neutron's would
	// follow, is lost in a Go map).
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if !contains(allowed, k) {
			return nil, neutron.BadRequest("Invalid input for %s. Reason: Unrecognized key '%s' in %s.", name, k, pyRepr(v))
		}
	}
	return d, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func convStringList(name string, v any) (any, *neutron.Error) {
	l, e := asList(name, v)
	if e != nil {
		return nil, e
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			return nil, invalidFor(name, x, "is not a valid string")
		}
		out = append(out, s)
	}
	return out, nil
}

func convTags(name string, v any) (any, *neutron.Error) {
	out, e := convStringList(name, v)
	if e != nil {
		return nil, e
	}
	if err := validateTags(out.([]string)); err != nil {
		return nil, err
	}
	return out, nil
}

// validateTags applies Neutron's limits: at most 50 tags, each 1..255
// characters (not bytes) without commas or slashes.
func validateTags(tags []string) *neutron.Error {
	if len(tags) > 50 {
		return neutron.BadRequest("Invalid input for tags. Reason: %d tags exceed the maximum of 50.", len(tags))
	}
	for _, t := range tags {
		if t == "" || utf8.RuneCountInString(t) > 255 || strings.ContainsAny(t, ",/") {
			return neutron.BadRequest("Invalid input for tags. Reason: '%s' is not a valid tag.", t)
		}
	}
	return nil
}

// convEmptyList accepts only an empty list: the attribute exists in
// Neutron's shape but neutrino has nothing to put in it (availability
// zones, service types).
func convEmptyList(name string, v any) (any, *neutron.Error) {
	l, e := asList(name, v)
	if e != nil {
		return nil, e
	}
	if len(l) != 0 {
		return nil, neutron.InvalidInput("%s is not supported by this server; only [] is accepted.", name)
	}
	return []string{}, nil
}

func convNull(name string, v any) (any, *neutron.Error) {
	if v != nil {
		return nil, neutron.InvalidInput("%s is not supported by this server; only null is accepted.", name)
	}
	return nil, nil
}

func convObject(name string, v any) (any, *neutron.Error) {
	if v == nil {
		return json.RawMessage("{}"), nil
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, invalidFor(name, v, "is not a dictionary")
	}
	b, _ := json.Marshal(d)
	return json.RawMessage(b), nil
}

var vnicTypes = []string{"normal", "direct", "macvtap", "baremetal", "direct-physical", "virtio-forwarder", "smart-nic", "vdpa", "remote-managed"}

func convVNICType(name string, v any) (any, *neutron.Error) {
	s, ok := v.(string)
	if !ok || !contains(vnicTypes, s) {
		return nil, invalidFor(name, v, fmt.Sprintf("is not in %s", pyList(vnicTypes)))
	}
	return s, nil
}

var ipv6Modes = []string{"dhcpv6-stateful", "dhcpv6-stateless", "slaac"}

func convIPv6Mode(name string, v any) (any, *neutron.Error) {
	if v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok || !contains(ipv6Modes, s) {
		return nil, invalidFor(name, v, fmt.Sprintf("is not in %s", pyList(ipv6Modes)))
	}
	return s, nil
}

func pyList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = "'" + s + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func convFixedIPs(name string, v any) (any, *neutron.Error) {
	l, e := asList(name, v)
	if e != nil {
		return nil, e
	}
	out := make([]neutron.FixedIPRequest, 0, len(l))
	for _, x := range l {
		d, e := asDict(name, x, "subnet_id", "ip_address")
		if e != nil {
			return nil, e
		}
		var f neutron.FixedIPRequest
		if s, ok := d["subnet_id"]; ok {
			id, e := convUUID("fixed_ips", s)
			if e != nil {
				return nil, e
			}
			f.SubnetID = id.(string)
		}
		if s, ok := d["ip_address"]; ok {
			str, _ := s.(string)
			a, err := netip.ParseAddr(str)
			if err != nil {
				return nil, invalidFor(name, s, "is not a valid IP address")
			}
			f.IPAddress = a.String()
		}
		if f.SubnetID == "" && f.IPAddress == "" {
			return nil, neutron.BadRequest("Invalid input for %s. Reason: %s must have a subnet_id or an ip_address.", name, pyRepr(x))
		}
		out = append(out, f)
	}
	return out, nil
}

func convPools(name string, v any) (any, *neutron.Error) {
	l, e := asList(name, v)
	if e != nil {
		return nil, e
	}
	out := make([]neutron.AllocationPool, 0, len(l))
	for _, x := range l {
		d, e := asDict(name, x, "start", "end")
		if e != nil {
			return nil, e
		}
		var p neutron.AllocationPool
		for _, k := range []string{"start", "end"} {
			s, _ := d[k].(string)
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, invalidFor(name, x, "is not a valid allocation pool")
			}
			if k == "start" {
				p.Start = a.String()
			} else {
				p.End = a.String()
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func convHostRoutes(name string, v any) (any, *neutron.Error) {
	l, e := asList(name, v)
	if e != nil {
		return nil, e
	}
	out := make([]neutron.HostRoute, 0, len(l))
	for _, x := range l {
		d, e := asDict(name, x, "destination", "nexthop")
		if e != nil {
			return nil, e
		}
		dst, _ := d["destination"].(string)
		hop, _ := d["nexthop"].(string)
		p, err1 := netip.ParsePrefix(dst)
		a, err2 := netip.ParseAddr(hop)
		if err1 != nil || err2 != nil {
			return nil, invalidFor(name, x, "is not a valid host route")
		}
		out = append(out, neutron.HostRoute{Destination: p.String(), NextHop: a.String()})
	}
	return out, nil
}

func convAddressPairs(name string, v any) (any, *neutron.Error) {
	l, e := asList(name, v)
	if e != nil {
		return nil, e
	}
	out := make([]neutron.AddressPair, 0, len(l))
	for _, x := range l {
		d, e := asDict(name, x, "ip_address", "mac_address")
		if e != nil {
			return nil, e
		}
		ip, _ := d["ip_address"].(string)
		if _, err := netip.ParseAddr(ip); err != nil {
			if _, err := netip.ParsePrefix(ip); err != nil {
				return nil, neutron.BadRequest("Invalid input for %s. Reason: %s is not a valid IP address.", name, pyRepr(d["ip_address"]))
			}
		}
		p := neutron.AddressPair{IPAddress: ip}
		if m, ok := d["mac_address"]; ok {
			mv, e := convMAC("mac_address", m)
			if e != nil {
				return nil, e
			}
			p.MACAddress = mv.(string)
		}
		out = append(out, p)
	}
	return out, nil
}

func convSegments(name string, v any) (any, *neutron.Error) {
	l, e := asList(name, v)
	if e != nil {
		return nil, e
	}
	out := make([]neutron.Segment, 0, len(l))
	for _, x := range l {
		d, e := asDict(name, x, "provider:network_type", "provider:physical_network", "provider:segmentation_id")
		if e != nil {
			return nil, e
		}
		var s neutron.Segment
		if t, ok := d["provider:network_type"].(string); ok {
			s.NetworkType = t
		}
		if p, ok := d["provider:physical_network"].(string); ok {
			s.PhysicalNetwork = p
		}
		if id, ok := d["provider:segmentation_id"]; ok && id != nil {
			n, ok := toInt(id)
			if !ok {
				return nil, neutron.InvalidInput("%s is not an integer", pyRepr(id))
			}
			s.SegmentationID = givenSegmentationID(n)
		}
		out = append(out, s)
	}
	return out, nil
}

// validateCIDR checks a subnet's cidr against its ip_version with
// Neutron's messages.
func validateCIDR(cidr string, version int) *neutron.Error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return neutron.InvalidInput("%s is not in a CIDR format.", cidr)
	}
	if (p.Addr().Is4() && version != 4) || (!p.Addr().Is4() && version != 6) {
		return neutron.InvalidInput("cidr '%s' does not match the ip_version '%d'.", cidr, version)
	}
	return nil
}
