// Package policy is Neutron's API policy: oslo.policy's rule language, the
// defaults Neutron 2023.1 registers for networks, subnets, ports and
// agents, and overrides from policy.yaml / policy.d as Neutron reads them.
//
// With enforce_new_defaults = false (2023.1's default) a rule that has a
// deprecated default is "new or deprecated" unless the operator overrides
// it, and a caller for whom context_is_admin holds passes every check
// (neutron.policy.enforce short-cuts admins then). With
// enforce_new_defaults = true only the new (member/reader) defaults apply.
package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Creds are the caller's credentials as oslo.policy sees them.
type Creds struct {
	UserID    string
	ProjectID string
	Roles     []string
}

func (c Creds) value(key string) (string, bool) {
	switch key {
	case "user_id":
		return c.UserID, true
	case "project_id", "tenant_id":
		return c.ProjectID, true
	}
	return "", false
}

// Target is the object of an action: its attributes, plus the owner of its
// network as "network:tenant_id" / "network:project_id" where it has one.
type Target map[string]any

// Options are [oslo_policy] and where to look for its files.
type Options struct {
	PolicyFile         string   // policy_file, default policy.yaml
	PolicyDirs         []string // policy_dirs, default policy.d
	EnforceNewDefaults bool     // enforce_new_defaults, default false in 2023.1
	// ConfigDirs are searched for relative file names (the directories of
	// the --config-file files, as oslo.config's find_file does).
	ConfigDirs []string
}

type ruleDefault struct{ name, check, deprecated string }

// Enforcer decides actions.
type Enforcer struct {
	rules       map[string]node
	newDefaults bool
	// Files lists the override files loaded, in order.
	Files []string
}

// New builds the enforcer from Neutron's defaults and the override files.
func New(o Options) (*Enforcer, error) {
	raw := map[string]string{}
	for _, d := range neutronDefaults {
		switch {
		case d.deprecated == "" || d.deprecated == d.check || o.EnforceNewDefaults:
			raw[d.name] = d.check
		default:
			raw[d.name] = "(" + d.check + ") or (" + d.deprecated + ")"
		}
	}
	e := &Enforcer{newDefaults: o.EnforceNewDefaults}
	file := o.PolicyFile
	if file == "" {
		file = "policy.yaml"
	}
	if p := find(file, o.ConfigDirs); p != "" {
		if err := loadFile(p, raw); err != nil {
			return nil, err
		}
		e.Files = append(e.Files, p)
	} else if o.PolicyFile != "" && o.PolicyFile != "policy.yaml" && o.PolicyFile != "policy.json" {
		return nil, fmt.Errorf("policy: [oslo_policy] policy_file %s not found", o.PolicyFile)
	}
	dirs := o.PolicyDirs
	if dirs == nil {
		dirs = []string{"policy.d"}
	}
	for _, d := range dirs {
		p := find(d, o.ConfigDirs)
		if p == "" {
			continue
		}
		names, err := filepath.Glob(filepath.Join(p, "*"))
		if err != nil {
			return nil, err
		}
		sort.Strings(names)
		for _, n := range names {
			if st, err := os.Stat(n); err != nil || st.IsDir() {
				continue
			}
			if err := loadFile(n, raw); err != nil {
				return nil, err
			}
			e.Files = append(e.Files, n)
		}
	}
	e.rules = make(map[string]node, len(raw))
	for name, text := range raw {
		n, err := Parse(text)
		if err != nil {
			return nil, fmt.Errorf("policy: rule %q: %w", name, err)
		}
		e.rules[name] = n
	}
	return e, nil
}

// find resolves name: absolute, or the first config dir holding it.
func find(name string, dirs []string) string {
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err == nil {
			return name
		}
		return ""
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// loadFile reads a policy file: a YAML (or JSON) map of rule name to rule.
func loadFile(path string, into map[string]string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	var m map[string]string
	if err := yaml.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("policy: %s: not a map of rule names to rules: %w", path, err)
	}
	for k, v := range m {
		into[k] = v
	}
	return nil
}

// IsAdmin is Neutron's context.is_admin: the context_is_admin rule.
func (e *Enforcer) IsAdmin(c Creds) bool {
	n, ok := e.rules["context_is_admin"]
	return ok && n.eval(e, c, Target{}, 0)
}

// Has reports whether a rule named action exists (attribute rules are
// checked only when they do, as Neutron does).
func (e *Enforcer) Has(action string) bool { _, ok := e.rules[action]; return ok }

// Allowed decides action on target. An action without a rule falls back to
// the "default" rule, as oslo.policy does.
func (e *Enforcer) Allowed(action string, c Creds, t Target) bool {
	if !e.newDefaults && e.IsAdmin(c) {
		return true
	}
	n, ok := e.rules[action]
	if !ok {
		if n, ok = e.rules["default"]; !ok {
			return false
		}
	}
	return n.eval(e, c, t, 0)
}

// node is a parsed rule.
type node interface {
	eval(e *Enforcer, c Creds, t Target, depth int) bool
}

type (
	constCheck bool
	andCheck   []node
	orCheck    []node
	notCheck   struct{ n node }
	ruleCheck  string
	roleCheck  string
	fieldCheck struct {
		field string
		value string
		re    *regexp.Regexp
	}
	// genericCheck is "key:match": the caller's key equals match, with
	// %(name)s taken from the target (Neutron's OwnerCheck for tenant_id).
	genericCheck struct{ key, match string }
)

func (k constCheck) eval(*Enforcer, Creds, Target, int) bool { return bool(k) }

func (k andCheck) eval(e *Enforcer, c Creds, t Target, d int) bool {
	for _, n := range k {
		if !n.eval(e, c, t, d) {
			return false
		}
	}
	return true
}

func (k orCheck) eval(e *Enforcer, c Creds, t Target, d int) bool {
	for _, n := range k {
		if n.eval(e, c, t, d) {
			return true
		}
	}
	return false
}

func (k notCheck) eval(e *Enforcer, c Creds, t Target, d int) bool { return !k.n.eval(e, c, t, d) }

func (k ruleCheck) eval(e *Enforcer, c Creds, t Target, d int) bool {
	n, ok := e.rules[string(k)]
	if !ok || d > 32 { // a missing rule, or a loop, denies
		return false
	}
	return n.eval(e, c, t, d+1)
}

func (k roleCheck) eval(_ *Enforcer, c Creds, t Target, _ int) bool {
	want := strings.ToLower(substitute(string(k), t))
	for _, r := range c.Roles {
		if strings.ToLower(r) == want {
			return true
		}
	}
	return false
}

func (k fieldCheck) eval(_ *Enforcer, _ Creds, t Target, _ int) bool {
	v, ok := t[k.field]
	if !ok || v == nil {
		return false
	}
	s := pyString(v)
	if k.re != nil {
		return k.re.MatchString(s)
	}
	if b, ok := v.(bool); ok {
		want, err := strconv.ParseBool(k.value)
		return err == nil && b == want
	}
	return s == k.value
}

func (k genericCheck) eval(_ *Enforcer, c Creds, t Target, _ int) bool {
	have, ok := c.value(k.key)
	if !ok {
		return false
	}
	if m := placeholder.FindStringSubmatch(k.match); m != nil {
		v, ok := t[m[1]]
		if !ok || v == nil {
			return false
		}
		return pyString(v) == have
	}
	return strings.Trim(k.match, `'"`) == have
}

var (
	placeholder = regexp.MustCompile(`^%\((.+)\)s$`)
	anyHolder   = regexp.MustCompile(`%\(([^)]+)\)s`)
)

// substitute replaces %(name)s with the target's values.
func substitute(s string, t Target) string {
	return anyHolder.ReplaceAllStringFunc(s, func(m string) string {
		return pyString(t[m[2:len(m)-2]])
	})
}

// pyString formats v as Python's str() would (the policy language compares
// strings).
func pyString(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// Default is an enforcer with Neutron 2023.1's defaults and no overrides.
func Default() *Enforcer {
	e, err := New(Options{})
	if err != nil {
		panic(err) // the generated defaults do not parse: a bug
	}
	return e
}
