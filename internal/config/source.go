package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// spelling is how one written (section, name) resolves to an option.
type spelling struct {
	opt       *option
	canonical bool
}

// index maps every accepted spelling (current and old) to its option.
func index() map[key]spelling {
	m := make(map[key]spelling, len(options)*2)
	for i := range options {
		o := &options[i]
		m[o.key] = spelling{o, true}
		for _, k := range o.old {
			m[k] = spelling{o, false}
		}
	}
	return m
}

// knownSection reports whether any option neutrino knows lives in s, so an
// unknown option there is reported as such rather than as an unknown section.
func knownSection(s string) bool {
	if quietSections[s] || s == "linux_bridge" || s == "securitygroup" {
		return true
	}
	for _, o := range options {
		if o.Section == s {
			return true
		}
		for _, k := range o.old {
			if k.Section == s {
				return true
			}
		}
	}
	for k := range notImplemented {
		if k.Section == s {
			return true
		}
	}
	return false
}

// source is the merged view of several files for one process: for each
// option, the assignment that wins under oslo.config's rules.
type source struct {
	by       reader
	vals     map[key]entry
	prio     map[key]int
	raw      map[key]string // every assignment as written, later wins: for $name substitution
	warnings []string
	errs     []error
}

// readFiles loads the files in order. Like oslo.config, a later file
// overrides an earlier one per option, and within one file the current
// spelling of an option beats its deprecated spelling.
func readFiles(by reader, paths []string) (*source, error) {
	s := &source{by: by, vals: map[key]entry{}, prio: map[key]int{}, raw: map[key]string{}}
	idx := index()
	for fi, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		entries, err := parseINI(p, data)
		if err != nil {
			return nil, err
		}
		warnedSection := map[string]bool{}
		for _, e := range entries {
			k := key{sectionKey(e.Section), e.Name}
			s.raw[k] = e.Value
			sp, ok := idx[k]
			if !ok {
				s.unknown(e, k, warnedSection)
				continue
			}
			o := sp.opt
			if o.by&by == 0 {
				// neutron.conf is shared by all processes: another
				// process's option is fine, except an agent option
				// given to the wrong agent, which is likely a mistake.
				if by&rAgents != 0 && o.by&rAgents != 0 && o.by&rServer == 0 {
					s.warnings = append(s.warnings, fmt.Sprintf("%s: read by the %s agent only; ignored", e.where(), agentName(o.by)))
				}
				continue
			}
			if !sp.canonical {
				s.warnings = append(s.warnings, fmt.Sprintf("%s: deprecated name; use [%s] %s", e.where(), o.Section, o.Name))
			}
			pr := fi * 2
			if sp.canonical {
				pr++
			}
			if old, seen := s.prio[o.key]; !seen || pr >= old {
				s.vals[o.key], s.prio[o.key] = e, pr
			}
		}
	}
	return s, nil
}

func agentName(r reader) string {
	if r&rOVS != 0 {
		return "openvswitch"
	}
	return "linuxbridge"
}

func (s *source) unknown(e entry, k key, warnedSection map[string]bool) {
	if why, ok := notImplemented[k]; ok {
		s.warnings = append(s.warnings, fmt.Sprintf("%s: ignored: %s", e.where(), why))
		return
	}
	if quiet[k] || quietSections[k.Section] {
		return
	}
	if !knownSection(k.Section) {
		if !warnedSection[k.Section] {
			warnedSection[k.Section] = true
			s.warnings = append(s.warnings, fmt.Sprintf("%s:%d: unknown section [%s]; ignored", e.File, e.Line, e.Section))
		}
		return
	}
	s.warnings = append(s.warnings, fmt.Sprintf("%s: unknown option; ignored", e.where()))
}

// get returns the winning assignment of an option, or a stand-in entry
// carrying the default (File "") so messages can still name the option.
func (s *source) get(section, name, def string) (entry, bool) {
	if e, ok := s.vals[key{section, name}]; ok {
		if strings.Contains(e.Value, "$") {
			v, err := s.substitute(e.Value, 0)
			if err != nil {
				s.fail(e, "%v", err)
			}
			e.Value = v
		}
		return e, true
	}
	return entry{Section: section, Name: name, Value: def}, false
}

// substDefaults are the defaults a "$name" may refer to without the file
// setting it (Neutron's own files use $state_path).
var substDefaults = map[string]string{"state_path": "/var/lib/neutrino"}

// substitute expands oslo.config's templates: "$name" and "${name}" are
// [DEFAULT] options, "${group.name}" another section's, "$$" is "$".
func (s *source) substitute(v string, depth int) (string, error) {
	if depth > 8 {
		return v, fmt.Errorf("substitution nests too deep (a loop?)")
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '$' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 < len(v) && v[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		var ref string
		if i+1 < len(v) && v[i+1] == '{' {
			end := strings.IndexByte(v[i:], '}')
			if end < 0 {
				return v, fmt.Errorf("unclosed ${ (write $$ for a literal $)")
			}
			ref = v[i+2 : i+end]
			i += end
		} else {
			j := i + 1
			for j < len(v) && (v[j] == '_' || v[j] >= 'a' && v[j] <= 'z' || v[j] >= 'A' && v[j] <= 'Z' || v[j] >= '0' && v[j] <= '9') {
				j++
			}
			ref = v[i+1 : j]
			i = j - 1
		}
		k := key{"DEFAULT", ref}
		if g, n, ok := strings.Cut(ref, "."); ok {
			k = key{sectionKey(g), n}
		}
		val, ok := s.raw[k]
		if !ok && k.Section == "DEFAULT" {
			val, ok = substDefaults[k.Name]
		}
		if !ok || ref == "" {
			return v, fmt.Errorf("$%s: no such option to substitute (write $$ for a literal $)", ref)
		}
		if strings.Contains(val, "$") {
			var err error
			if val, err = s.substitute(val, depth+1); err != nil {
				return v, err
			}
		}
		b.WriteString(val)
	}
	return b.String(), nil
}

// fail records a validation error naming file, section, option and value.
func (s *source) fail(e entry, format string, args ...any) {
	s.errs = append(s.errs, fmt.Errorf("%s: %q: %s", e.where(), redact(e.Value), fmt.Sprintf(format, args...)))
}

// redact hides the password of a URL ("mysql://user:secret@host") so
// messages and logs do not carry it.
func redact(v string) string {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		return v
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return v
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return v
	}
	return scheme + "://" + user + ":***" + rest[at:]
}

func (s *source) err() error { return errors.Join(s.errs...) }

func (s *source) str(dst *string, section, name, def string) entry {
	e, _ := s.get(section, name, def)
	*dst = e.Value
	return e
}

func (s *source) boolean(dst *bool, section, name string, def bool) entry {
	e, set := s.get(section, name, "")
	if !set {
		*dst = def
		return e
	}
	b, ok := parseBool(e.Value)
	if !ok {
		s.fail(e, "not a boolean (true/false, yes/no, on/off, 1/0)")
		*dst = def
		return e
	}
	*dst = b
	return e
}

// integer reads an integer option and checks it against [min, max].
func (s *source) integer(dst *int, section, name string, def, min, max int) entry {
	e, set := s.get(section, name, "")
	if !set {
		*dst = def
		return e
	}
	n, err := strconv.Atoi(e.Value)
	if err != nil {
		s.fail(e, "not an integer")
		*dst = def
		return e
	}
	if n < min || n > max {
		s.fail(e, "must be between %d and %d", min, max)
	}
	*dst = n
	return e
}

// port reads a TCP/UDP port option (1..65535).
func (s *source) port(dst *int, section, name string, def int) entry {
	return s.integer(dst, section, name, def, 1, 65535)
}

func (s *source) list(dst *[]string, section, name string, def []string) entry {
	e, set := s.get(section, name, strings.Join(def, ","))
	if !set {
		*dst = append([]string(nil), def...)
		return e
	}
	*dst = parseList(e.Value)
	return e
}

// ip reads an IP address option; "" is allowed (unset).
func (s *source) ip(dst *string, section, name string) entry {
	e := s.str(dst, section, name, "")
	if e.Value != "" && net.ParseIP(e.Value) == nil {
		s.fail(e, "not an IP address")
	}
	return e
}

// parseBool accepts what oslo.config's Boolean type accepts.
func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true, true
	case "false", "no", "off", "0":
		return false, true
	}
	return false, false
}

// parseList splits a ListOpt value: comma separated, spaces trimmed, empty
// items (a trailing comma) dropped.
func parseList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
