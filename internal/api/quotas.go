package api

import (
	"context"
	"math"
	"net/http"
	"sort"
	"strings"

	"neutrino/internal/config"
	"neutrino/internal/neutron"
)

// QuotaBackend is what the quotas extension needs from the plugin
// (ml2.Plugin implements it): limits with the [quotas] defaults filled in.
type QuotaBackend interface {
	DefaultQuotas() map[string]int
	Quotas(ctx context.Context, project string) (map[string]int, error)
	// AllQuotas: every project with limits of its own.
	AllQuotas(ctx context.Context) (map[string]map[string]int, error)
	QuotaDetails(ctx context.Context, project string) (map[string]neutron.QuotaDetail, error)
	UpdateQuotas(ctx context.Context, project string, limits map[string]int, checkLimit bool) (map[string]int, error)
	// DeleteQuotas: 404 TenantQuotaNotFound if project had none.
	DeleteQuotas(ctx context.Context, project string) error
}

// errRuleDenied is PolicyNotAuthorized for a rule Neutron checks without
// attribute rules (get_*, delete_*, the quotas controller).
func errRuleDenied(action string) *neutron.Error {
	return neutron.Errorf(http.StatusForbidden, "PolicyNotAuthorized", "rule:%s is disallowed by policy", action)
}

// serveQuotas answers /v2.0/quotas[/...] as Neutron's quotas and
// quota_details extensions (QuotaSetsController): rest is the path after
// "quotas".
func (s *Server) serveQuotas(w http.ResponseWriter, r *http.Request, c Caller, rest []string) {
	ctx := r.Context()
	// Neutron checks get/update/delete_quota against the caller's own
	// project: with the default rules only admins pass.
	authorize := func(action string) bool {
		if c.allowed(action, map[string]any{"project_id": c.ProjectID, "tenant_id": c.ProjectID}) {
			return true
		}
		writeFault(w, errRuleDenied(action))
		return false
	}
	reply := func(key string, v any, err error) {
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{key: v})
	}
	switch {
	case len(rest) == 0 && r.Method == "GET":
		if !authorize("get_quota") {
			return
		}
		all, err := s.b.AllQuotas(ctx)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		projects := make([]string, 0, len(all))
		for p := range all {
			projects = append(projects, p)
		}
		sort.Strings(projects)
		out := make([]any, len(projects))
		for i, p := range projects {
			q := map[string]any{"project_id": p, "tenant_id": p}
			for res, limit := range all[p] {
				q[res] = limit
			}
			out[i] = q
		}
		writeJSON(w, http.StatusOK, map[string]any{"quotas": out})
	case len(rest) == 0 && r.Method == "POST":
		writeFault(w, neutron.Errorf(http.StatusNotImplemented, "HTTPNotImplemented", "POST requests are not supported on this resource."))
	case len(rest) == 0:
		writeFault(w, errMethodNotAllowed())
	case len(rest) == 1 && (rest[0] == "tenant" || rest[0] == "project") && r.Method == "GET":
		if c.ProjectID == "" {
			writeFault(w, neutron.BadRequest("Tenant-id was missing from quota request."))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{rest[0]: map[string]string{rest[0] + "_id": c.ProjectID}})
	case len(rest) == 1:
		id := rest[0]
		switch r.Method {
		case "GET":
			if id != c.ProjectID && !authorize("get_quota") {
				return
			}
			q, err := s.b.Quotas(ctx, id)
			reply("quota", q, err)
		case "PUT":
			if !authorize("update_quota") {
				return
			}
			body, e := s.readBody(r)
			if e == nil {
				var limits map[string]int
				var check bool
				if limits, check, e = parseQuotaBody(body); e == nil {
					q, err := s.b.UpdateQuotas(ctx, id, limits, check)
					reply("quota", q, err)
					return
				}
			}
			writeFault(w, e)
		case "DELETE":
			if !authorize("delete_quota") {
				return
			}
			if err := s.b.DeleteQuotas(ctx, id); err != nil {
				s.writeErr(w, r, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			writeFault(w, errMethodNotAllowed())
		}
	case len(rest) == 2 && (rest[1] == "default" || rest[1] == "details"):
		if r.Method != "GET" {
			writeFault(w, errMethodNotAllowed())
			return
		}
		id := rest[0]
		if rest[1] == "default" {
			if id != c.ProjectID && !authorize("get_quota") {
				return
			}
			reply("quota", s.b.DefaultQuotas(), nil)
			return
		}
		if id != c.ProjectID && !c.Admin {
			writeFault(w, neutron.Errorf(http.StatusForbidden, "AdminRequired",
				"User does not have admin privileges: Only admin is authorized to access quotas for another project."))
			return
		}
		d, err := s.b.QuotaDetails(ctx, id)
		reply("quota", d, err)
	default:
		writeFault(w, errNotFoundResource())
	}
}

// parseQuotaBody validates a PUT /v2.0/quotas/{id} body as Neutron does:
// {"quota": {resource: limit, ...}} with integer limits from -1 to the
// database's integer maximum; "force" and "check_limit" (quota-check-limit)
// are taken out first, and a true check_limit refuses limits below use.
func parseQuotaBody(body []byte) (map[string]int, bool, *neutron.Error) {
	obj, e := decodeJSON(body)
	if e != nil {
		return nil, false, e
	}
	inner, ok := obj["quota"].(map[string]any)
	if !ok {
		return nil, false, neutron.BadRequest("Unable to find 'quota' in request body")
	}
	check := truthy(inner["check_limit"])
	known := map[string]bool{}
	for _, res := range config.QuotaResources {
		known[res.Name] = true
	}
	var unknown []string
	for k := range inner {
		if !known[k] && k != "force" && k != "check_limit" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, false, neutron.BadRequest("Unrecognized attribute(s) '%s'", strings.Join(unknown, ", "))
	}
	limits := map[string]int{}
	for _, res := range config.QuotaResources {
		v, ok := inner[res.Name]
		if !ok {
			continue
		}
		n, ok := toInt(v)
		if !ok {
			return nil, false, neutron.InvalidInput("%s is not an integer.", pyRepr(v))
		}
		switch {
		case n < -1:
			return nil, false, neutron.BadRequest("Invalid input for %s. Reason: '%d' is too small - must be at least '-1'.", res.Name, n)
		case n > math.MaxInt32:
			return nil, false, neutron.BadRequest("Invalid input for %s. Reason: '%d' is too large - must be no larger than '%d'.", res.Name, n, math.MaxInt32)
		}
		limits[res.Name] = int(n)
	}
	return limits, check, nil
}

// truthy is Python's truth of a JSON value (Neutron reads check_limit so).
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	default:
		n, ok := toInt(v)
		return !ok || n != 0
	}
}
