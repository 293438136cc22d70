package api

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"neutrino/internal/neutron"
)

// extra_dhcp_opts (extension extra_dhcp_opt): a list of {opt_name,
// opt_value, ip_version}, validated as Neutron's "list of any key specs or
// none" with its two key specs: options that may be blank (router,
// classless-static-route: any string up to 255 characters or null) and all
// others (a one-line non-blank name up to 64 characters, a one-line
// non-blank value up to 255 or null); ip_version is converted to an
// integer and must be 4 or 6. Faults are Neutron's InvalidInput texts, with
// values quoted as Python prints them.

var blankableDHCPOpts = []string{"router", "classless-static-route"}

func convExtraDHCPOpts(_ string, v any) (any, *neutron.Error) {
	if v == nil {
		return []neutron.ExtraDHCPOptRequest(nil), nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, neutron.InvalidInput("'%s' is not a list.", pyStr(v))
	}
	if dups := duplicates(l); len(dups) > 0 {
		s := make([]string, len(dups))
		for i, d := range dups {
			s[i] = pyStr(d)
		}
		return nil, neutron.InvalidInput("Duplicate items in the list: '%s'.", strings.Join(s, ", "))
	}
	out := make([]neutron.ExtraDHCPOptRequest, 0, len(l))
	for _, x := range l {
		o, e := dhcpOptOf(x)
		if e != nil {
			return nil, e
		}
		out = append(out, o)
	}
	return out, nil
}

// duplicates lists the items that occur more than once, each once.
func duplicates(l []any) []any {
	var seen, dups []any
	has := func(l []any, x any) bool {
		return slices.ContainsFunc(l, func(y any) bool { return reflect.DeepEqual(x, y) })
	}
	for _, x := range l {
		if has(seen, x) {
			if !has(dups, x) {
				dups = append(dups, x)
			}
			continue
		}
		seen = append(seen, x)
	}
	return dups
}

// dhcpOptOf checks one entry against the two key specs.
func dhcpOptOf(x any) (neutron.ExtraDHCPOptRequest, *neutron.Error) {
	noMatch := func() *neutron.Error { return neutron.InvalidInput("No valid key specs matched for: %s.", pyStr(x)) }
	d, ok := x.(map[string]any)
	if !ok {
		return neutron.ExtraDHCPOptRequest{}, noMatch()
	}
	for _, blankable := range []bool{true, false} {
		ok, e := matchesDHCPOptSpec(d, blankable)
		if e != nil {
			return neutron.ExtraDHCPOptRequest{}, e
		}
		if ok {
			o := neutron.ExtraDHCPOptRequest{OptName: d["opt_name"].(string), IPVersion: 4}
			if s, ok := d["opt_value"].(string); ok {
				o.OptValue = &s
			}
			if v, ok := d["ip_version"].(int64); ok {
				o.IPVersion = int(v)
			}
			return o, nil
		}
	}
	return neutron.ExtraDHCPOptRequest{}, noMatch()
}

// matchesDHCPOptSpec is Neutron's validate_dict for one key spec: required
// keys, no others, then opt_name, opt_value and ip_version in that order;
// ip_version is converted in place (as Neutron does, so a later spec and
// the fault text see the integer) and a value no integer can be made of
// is a fault of its own.
func matchesDHCPOptSpec(d map[string]any, blankable bool) (bool, *neutron.Error) {
	if _, ok := d["opt_name"]; !ok {
		return false, nil
	}
	if _, ok := d["opt_value"]; !ok {
		return false, nil
	}
	for k := range d {
		if k != "opt_name" && k != "opt_value" && k != "ip_version" {
			return false, nil
		}
	}
	name, isStr := d["opt_name"].(string)
	if blankable {
		if !isStr || !contains(blankableDHCPOpts, name) {
			return false, nil
		}
		if v := d["opt_value"]; v != nil {
			if s, ok := v.(string); !ok || utf8.RuneCountInString(s) > 255 {
				return false, nil
			}
		}
	} else {
		if !isStr || !onelineNotEmpty(name, 64) {
			return false, nil
		}
		if v := d["opt_value"]; v != nil {
			if s, ok := v.(string); !ok || !onelineNotEmpty(s, 255) {
				return false, nil
			}
		}
	}
	raw, ok := d["ip_version"]
	if !ok {
		return true, nil
	}
	n, ok := pyInt(raw)
	if !ok {
		return false, neutron.InvalidInput("'%s' is not an integer.", pyStr(raw))
	}
	d["ip_version"] = n
	return n == 4 || n == 6, nil
}

// onelineNotEmpty: at most max characters, not blank, one line (a final
// line break is allowed, as Python's splitlines counts it).
func onelineNotEmpty(s string, max int) bool {
	if utf8.RuneCountInString(s) > max || strings.TrimSpace(s) == "" {
		return false
	}
	lines := 0
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		if isLineBreak(rs[i]) {
			if rs[i] == '\r' && i+1 < len(rs) && rs[i+1] == '\n' {
				i++
			}
			lines++
		} else if i == len(rs)-1 {
			lines++
		}
	}
	return lines <= 1
}

// isLineBreak: the boundaries Python's str.splitlines splits on.
func isLineBreak(r rune) bool {
	switch r {
	case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
		return true
	}
	return false
}

// pyInt is Python's int() of a JSON value: integers, floats truncated,
// booleans 0/1, decimal strings.
func pyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int64:
		return x, true
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, true
		}
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > math.MaxInt64 {
			return 0, false
		}
		return int64(f), true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func appendExtraDHCPOpt(b []byte, o *neutron.ExtraDHCPOpt) []byte {
	obj := openObject(b)
	return obj.str("opt_name", o.OptName).str("opt_value", o.OptValue).int("ip_version", int64(o.IPVersion)).close()
}
