package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"neutrino/internal/neutron"
	"neutrino/internal/policy"
)

// Options configure the HTTP layer (from neutron.conf / ml2_conf.ini).
type Options struct {
	// AuthStrategy is auth_strategy: AuthNoauth (default) or AuthKeystone.
	AuthStrategy string
	// MaxRequestBody is max_request_body_size in bytes (default 114688).
	MaxRequestBody int64
	// PortSecurity: ml2 extension_drivers includes port_security, so
	// networks and ports carry port_security_enabled.
	PortSecurity bool
	// Authenticate, when set, wraps every request but the version document
	// (keystone.Auth.Wrap: it validates the token and sets the identity
	// headers the AuthKeystone strategy reads).
	Authenticate func(http.Handler) http.Handler
	// Policy decides admin rules and policy.yaml overrides (nil: Neutron
	// 2023.1's defaults).
	Policy *policy.Enforcer
	Logger *slog.Logger
	// Observe, when set, is told of every request once it is answered
	// (method, the resource it addressed as Resource names it, status,
	// duration): the metrics.
	Observe func(method, resource string, status int, took time.Duration)
	// Extra are neutrino's own read-only resources under /v2.0/<name>
	// and /v2.0/<name>/<id> (trace, audits): GET only, admin only,
	// rendered as JSON, faults as NeutronError.
	Extra map[string]ExtraResource
}

// ExtraResource answers GET /v2.0/<name>[/<id>] with a JSON value; id is
// "" for the collection. A *neutron.Error is rendered as that fault.
type ExtraResource func(ctx context.Context, id string, q url.Values) (any, error)

// Server is the Neutron v2.0 API as an http.Handler.
type Server struct {
	b     Backend
	opts  Options
	log   *slog.Logger
	kinds map[string]*kind // by collection name
	exts  []extension
	authn http.Handler // identify + route, behind Options.Authenticate
}

// New builds the API handler on a Backend.
func New(b Backend, o Options) *Server {
	if o.AuthStrategy == "" {
		o.AuthStrategy = AuthNoauth
	}
	if o.MaxRequestBody <= 0 {
		o.MaxRequestBody = 114688
	}
	if o.Policy == nil {
		o.Policy = policy.Default()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ao := attrOptions{PortSecurity: o.PortSecurity}
	s := &Server{b: b, opts: o, log: o.Logger, kinds: map[string]*kind{
		"networks": networkKind(b, ao),
		"subnets":  subnetKind(b),
		"ports":    portKind(b, ao),
		"agents":   agentKind(b),

		"security-groups":      securityGroupKind(b),
		"security-group-rules": securityGroupRuleKind(b),

		"routers":     routerKind(b),
		"floatingips": floatingIPKind(b),

		"subnetpools": subnetPoolKind(b),
	}}
	s.exts = extensionsFor(ao)
	s.authn = http.HandlerFunc(s.serveIdentified)
	if o.Authenticate != nil {
		s.authn = o.Authenticate(s.authn)
	}
	return s
}

const unauthorizedBody = "401 Unauthorized\n\nThis server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.\n\n   "

// statusWriter remembers the status for the request log and Observe.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	reqID := "req-" + uuid.NewString()
	rw.Header().Set("X-Openstack-Request-Id", reqID)
	w := &statusWriter{ResponseWriter: rw}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			// A bug must not drop the connection without an answer.
			s.log.Error("panic serving request", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			if w.status == 0 {
				writeFault(w, &neutron.Error{Status: http.StatusInternalServerError, Type: "HTTPInternalServerError",
					Message: "Request Failed: internal server error while processing your request."})
			}
		}
		if w.status == 0 {
			w.status = http.StatusOK // a handler that wrote nothing
		}
		took := time.Since(start)
		s.log.Debug("request", "request_id", reqID, "method", r.Method, "path", r.URL.RequestURI(), "status", w.status, "duration", took)
		if s.opts.Observe != nil {
			s.opts.Observe(r.Method, s.Resource(r.URL.Path), w.status, took)
		}
	}()
	if r.URL.Path == "/" {
		// The version document is outside the authenticated pipeline.
		s.only(w, r, "GET", func() { s.versions(w, r) })
		return
	}
	s.authn.ServeHTTP(w, r)
}

func (s *Server) serveIdentified(w http.ResponseWriter, r *http.Request) {
	c, ok := identify(s.opts.AuthStrategy, r.Header, s.opts.Policy)
	if !ok {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.Header().Set("Www-Authenticate", "Keystone uri=''")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, unauthorizedBody)
		return
	}
	q, e := parseQuery(r.URL.RawQuery)
	if e == nil {
		e = checkPath(r)
	}
	if e == nil {
		e = checkCaller(c)
	}
	if e != nil {
		writeFault(w, e)
		return
	}
	r = r.WithContext(WithCaller(r.Context(), c))
	s.route(w, r, c, q)
}

// route dispatches a request whose path, query (q, strictly parsed) and
// identity passed the text checks of input.go.
// routesOutsideKinds are the collections route serves by hand, not from
// an attribute table.
var routesOutsideKinds = map[string]bool{
	"extensions": true, "quotas": true, "network-ip-availabilities": true, "service-providers": true,
}

// Resource names the collection a request path addresses ("networks" for
// /v2.0/networks/<id>/tags), "versions" and "root" for the two documents,
// and "other" for anything this server does not serve, so that a metrics
// label stays bounded while every resource, added or to come, has its own.
func (s *Server) Resource(path string) string {
	switch path {
	case "/":
		return "versions"
	case "/v2.0", "/v2.0/":
		return "root"
	}
	rest, ok := strings.CutPrefix(path, "/v2.0/")
	if !ok {
		return "other"
	}
	first, _, _ := strings.Cut(rest, "/")
	first = strings.TrimSuffix(first, ".json")
	_, kind := s.kinds[first]
	_, extra := s.opts.Extra[first]
	if kind || extra || routesOutsideKinds[first] {
		return first
	}
	return "other"
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, c Caller, q url.Values) {
	path := r.URL.Path
	if path == "/v2.0/" {
		s.only(w, r, "GET", func() { s.v2Root(w, r) })
		return
	}
	rest, ok := strings.CutPrefix(path, "/v2.0/")
	if !ok {
		writeFault(w, errNotFoundResource())
		return
	}
	rest = strings.TrimSuffix(rest, "/")
	rest = strings.TrimSuffix(rest, ".json")
	seg := strings.Split(rest, "/")
	if seg[0] == "extensions" {
		switch len(seg) {
		case 1:
			s.only(w, r, "GET", func() { s.listExtensions(w) })
		case 2:
			s.only(w, r, "GET", func() { s.showExtension(w, seg[1]) })
		default:
			writeFault(w, errNotFoundResource())
		}
		return
	}
	switch {
	case seg[0] == "quotas":
		s.serveQuotas(w, r, c, seg[1:])
		return
	case seg[0] == "network-ip-availabilities" && len(seg) <= 2:
		id := ""
		if len(seg) == 2 {
			id = seg[1]
		}
		s.only(w, r, "GET", func() { s.serveIPAvailability(w, r, c, id, q) })
		return
	}
	if seg[0] == "service-providers" && len(seg) == 1 {
		s.only(w, r, "GET", func() {
			out := make([]map[string]any, len(serviceProviders))
			for i, sp := range serviceProviders {
				out[i] = selectFields(sp, fieldsOf(q))
			}
			writeJSON(w, http.StatusOK, map[string]any{"service_providers": out})
		})
		return
	}
	if x, ok := s.opts.Extra[seg[0]]; ok && len(seg) <= 2 {
		s.only(w, r, "GET", func() { s.extra(w, r, c, seg, x, q) })
		return
	}
	if s.schedulerRoute(w, r, c, seg) {
		return
	}
	k, ok := s.kinds[seg[0]]
	if !ok {
		writeFault(w, errNotFoundResource())
		return
	}
	switch {
	case len(seg) == 1:
		switch r.Method {
		case "GET":
			s.list(w, r, c, k, q)
		case "POST":
			if k.create == nil {
				writeFault(w, errMethodNotAllowed())
				return
			}
			s.create(w, r, c, k)
		default:
			writeFault(w, errMethodNotAllowed())
		}
	case len(seg) == 2:
		id := seg[1]
		switch r.Method {
		case "GET":
			s.show(w, r, c, k, id, q)
		case "PUT":
			s.update(w, r, c, k, id)
		case "DELETE":
			s.del(w, r, c, k, id)
		default:
			writeFault(w, errMethodNotAllowed())
		}
	case len(seg) == 3 && seg[0] == "routers" && (seg[2] == "add_router_interface" || seg[2] == "remove_router_interface"):
		s.serveRouterInterface(w, r, c, seg[1], seg[2])
	case (len(seg) == 3 || len(seg) == 4) && seg[2] == "tags" && !k.adminOnly:
		tag := ""
		if len(seg) == 4 {
			tag = seg[3]
		}
		s.tags(w, r, c, k, seg[1], tag, len(seg) == 4)
	default:
		writeFault(w, errNotFoundResource())
	}
}

func (s *Server) extra(w http.ResponseWriter, r *http.Request, c Caller, seg []string, x ExtraResource, q url.Values) {
	if !c.Admin {
		writeFault(w, errPolicy("get_"+seg[0], nil))
		return
	}
	id := ""
	if len(seg) == 2 {
		id = seg[1]
	}
	v, err := x(r.Context(), id, q)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) only(w http.ResponseWriter, r *http.Request, method string, f func()) {
	if r.Method != method {
		writeFault(w, errMethodNotAllowed())
		return
	}
	f()
}

func baseURL(r *http.Request) string { return "http://" + r.Host }

func (s *Server) versions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
		"id": "v2.0", "status": "CURRENT",
		"links": []any{map[string]string{"rel": "self", "href": baseURL(r) + "/v2.0/"}},
	}}})
}

func (s *Server) v2Root(w http.ResponseWriter, r *http.Request) {
	var res []any
	for _, n := range [][2]string{{"network", "networks"}, {"subnet", "subnets"}, {"subnetpool", "subnetpools"}, {"port", "ports"}} {
		res = append(res, map[string]any{"name": n[0], "collection": n[1],
			"links": []any{map[string]string{"rel": "self", "href": baseURL(r) + "/v2.0/" + n[1]}}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"resources": res})
}

// readBody reads at most max_request_body_size bytes.
func (s *Server) readBody(r *http.Request) ([]byte, *neutron.Error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.opts.MaxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, neutron.Errorf(http.StatusRequestEntityTooLarge, "HTTPRequestEntityTooLarge", "Request is too large.")
		}
		return nil, neutron.BadRequest("Body contains invalid data")
	}
	return b, nil
}

// fetch gets a resource and applies read policy: invisible is NotFound.
func (s *Server) fetch(r *http.Request, c Caller, k *kind, id string) (*entity, error) {
	e, err := k.get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if c.Admin {
		return e, nil
	}
	var network *entity
	if e.networkID != "" && !ownerOrAdmin(c, e.project) {
		if n, err := s.kinds["networks"].get(r.Context(), e.networkID); err == nil {
			network = n
		}
	}
	if !visible(c, k, e, network) && !s.groupOwner(r, c, e) {
		return nil, notFound(k.res.name, id)
	}
	return e, nil
}

// groupOwner reports whether c owns the security group of rule e:
// Neutron's sg_owner lets a group's owner read every rule in it, also
// those an admin created under another project.
func (s *Server) groupOwner(r *http.Request, c Caller, e *entity) bool {
	if e.groupID == "" {
		return false
	}
	g, err := s.kinds["security-groups"].get(r.Context(), e.groupID)
	return err == nil && ownerOrAdmin(c, g.project)
}

func (s *Server) show(w http.ResponseWriter, r *http.Request, c Caller, k *kind, id string, q url.Values) {
	e, err := s.fetch(r, c, k, id)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, k, e, k.res.selection(c, fieldsOf(q), false))
}

// writeResource answers with one resource: {"<name>": {...}}.
func writeResource(w http.ResponseWriter, status int, k *kind, e *entity, sel []int) {
	b := make([]byte, 0, 1024)
	b = append(b, '{')
	b = appendString(b, k.res.name)
	b = append(b, ':')
	b = e.encode(b, sel)
	writeBody(w, status, append(b, '}'))
}

func fieldsOf(q url.Values) []string {
	var out []string
	for _, f := range q["fields"] {
		for _, x := range strings.Split(f, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, c Caller, k *kind, q url.Values) {
	lr, e := parseList(k.res, q)
	if e != nil {
		writeFault(w, e)
		return
	}
	if k.adminOnly && !c.Admin {
		writeJSON(w, http.StatusOK, map[string]any{k.res.collection: []any{}})
		return
	}
	lr.q.VisibleTo = visibleTo(c)
	items, err := k.list(r.Context(), lr.q)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	sel := k.res.selection(c, lr.fields, false)
	ids := make([]string, len(items))
	// About 750 bytes per port; growing the buffer costs more than a guess.
	b := make([]byte, 0, 64+768*len(items))
	b = append(b, '{')
	b = appendString(b, k.res.collection)
	b = append(b, ':', '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = it.encode(b, sel)
		ids[i] = it.id
	}
	b = append(b, ']')
	if links := pageLinks(r, lr.q, ids); links != nil {
		b = append(b, ',')
		b = appendString(b, k.res.collection+"_links")
		b = append(b, ':')
		b = appendValue(b, links)
	}
	writeBody(w, http.StatusOK, append(b, '}'))
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, c Caller, k *kind) {
	body, e := s.readBody(r)
	if e != nil {
		writeFault(w, e)
		return
	}
	bodies, bulk, e := parseCreateBody(k.res, body)
	if e != nil {
		writeFault(w, e)
		return
	}
	// Every item of a bulk create passes policy before any is created.
	items := make([]newItem, len(bodies))
	for i, attrs := range bodies {
		project, e := s.authorizeCreate(r, c, k, attrs)
		if e != nil {
			s.writeErr(w, r, e)
			return
		}
		items[i] = newItem{attrs: attrs, project: project}
	}
	ents, err := k.create(r.Context(), items)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	sel := k.res.selection(c, nil, true)
	if !bulk {
		writeResource(w, http.StatusCreated, k, ents[0], sel)
		return
	}
	b := append(appendString([]byte("{"), k.res.collection), ':', '[')
	for i, ent := range ents {
		if i > 0 {
			b = append(b, ',')
		}
		b = ent.encode(b, sel)
	}
	writeBody(w, http.StatusCreated, append(b, ']', '}'))
}

// authorizeCreate applies create policy to one new resource and returns
// the project it is created for.
func (s *Server) authorizeCreate(r *http.Request, c Caller, k *kind, attrs map[string]any) (string, error) {
	project, e := createProject(c, attrs)
	if e != nil {
		return "", e
	}
	action := "create_" + k.res.name
	if denied := deniedAttrs(c, action, k.res, attrs, target(project, attrs, nil)); len(denied) > 0 {
		return "", errPolicy(action, denied)
	}
	var network *entity // the new subnet's or port's network, for non-admins
	if !c.Admin && k.onForeignNetwork != nil {
		netID, _ := aStr(attrs, "network_id")
		n, err := s.fetch(r, c, s.kinds["networks"], netID)
		if err != nil {
			return "", err
		}
		network = n
		if !ownerOrAdmin(c, n.project) {
			if e := k.onForeignNetwork(action, attrs); e != nil {
				return "", e
			}
		}
	}
	if !c.allowed(action, target(project, attrs, network)) {
		return "", errForbidden(action)
	}
	return project, nil
}

// ifMatch parses If-Match: revision_number=N (0 = not given).
func ifMatch(r *http.Request) (int64, *neutron.Error) {
	h := r.Header.Get("If-Match")
	if h == "" {
		return 0, nil
	}
	var rev int64
	for _, part := range strings.Split(h, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "revision_number=")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, neutron.BadRequest("Revision number must be an integer 0 or greater and not '%s'", v)
		}
		rev = n
	}
	return rev, nil
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, c Caller, k *kind, id string) {
	body, e := s.readBody(r)
	if e != nil {
		writeFault(w, e)
		return
	}
	attrs, e := parseBody(k.res, body, false)
	if e != nil {
		writeFault(w, e)
		return
	}
	rev, e := ifMatch(r)
	if e != nil {
		writeFault(w, e)
		return
	}
	cur, err := s.fetch(r, c, k, id)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	action := "update_" + k.res.name
	t := s.entityTarget(r, k, cur)
	if !ownerOrAdmin(c, cur.project) || !c.allowed(action, t) {
		writeFault(w, errForbidden(action))
		return
	}
	denied := deniedAttrs(c, action, k.res, attrs, t)
	if k.deniedUpdate != nil {
		denied = append(denied, k.deniedUpdate(c, cur, attrs, t)...)
	}
	if len(denied) > 0 {
		writeFault(w, errPolicy(action, denied))
		return
	}
	ent, err := k.update(r.Context(), id, attrs, rev)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, k, ent, k.res.selection(c, nil, false))
}

func (s *Server) del(w http.ResponseWriter, r *http.Request, c Caller, k *kind, id string) {
	cur, err := s.fetch(r, c, k, id)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if !ownerOrAdmin(c, cur.project) || !c.allowed("delete_"+k.res.name, s.entityTarget(r, k, cur)) {
		writeFault(w, errForbidden("delete_"+k.res.name))
		return
	}
	if err := k.delete(r.Context(), id); err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// tags serves /v2.0/{collection}/{id}/tags[/{tag}].
func (s *Server) tags(w http.ResponseWriter, r *http.Request, c Caller, k *kind, id, tag string, one bool) {
	cur, err := s.fetch(r, c, k, id)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	has := contains(cur.tags, tag)
	notFound := neutron.Errorf(http.StatusNotFound, "TagNotFound", "Tag %s could not be found.", tag)
	if r.Method != "GET" && !ownerOrAdmin(c, cur.project) {
		writeFault(w, errForbidden("update_"+k.res.name))
		return
	}
	set := func(tags []string, status int, echo bool) {
		if e := validateTags(tags); e != nil {
			writeFault(w, e)
			return
		}
		got, err := s.b.ReplaceTags(r.Context(), k.res.name, id, tags)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		if echo {
			writeJSON(w, status, map[string]any{"tags": tagList(got)})
			return
		}
		w.WriteHeader(status)
	}
	switch {
	case r.Method == "GET" && !one:
		writeJSON(w, http.StatusOK, map[string]any{"tags": tagList(cur.tags)})
	case r.Method == "GET":
		if !has {
			writeFault(w, notFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == "PUT" && !one:
		body, e := s.readBody(r)
		if e != nil {
			writeFault(w, e)
			return
		}
		tags, e := parseTagsBody(body)
		if e != nil {
			writeFault(w, e)
			return
		}
		set(tags, http.StatusOK, true)
	case r.Method == "PUT":
		if has {
			w.WriteHeader(http.StatusCreated)
			return
		}
		set(append(append([]string{}, cur.tags...), tag), http.StatusCreated, false)
	case r.Method == "DELETE" && !one:
		set([]string{}, http.StatusNoContent, false)
	case r.Method == "DELETE":
		if !has {
			writeFault(w, notFound)
			return
		}
		var rest []string
		for _, t := range cur.tags {
			if t != tag {
				rest = append(rest, t)
			}
		}
		set(tagList(rest), http.StatusNoContent, false)
	default:
		writeFault(w, errMethodNotAllowed())
	}
}

func parseTagsBody(body []byte) ([]string, *neutron.Error) {
	top, e := decodeJSON(body)
	if e != nil {
		return nil, e
	}
	v, ok := top["tags"]
	if !ok {
		return nil, neutron.BadRequest("Invalid input for tags. Reason: 'tags' not found in the request body.")
	}
	t, e := convTags("tags", v)
	if e != nil {
		return nil, e
	}
	return t.([]string), nil
}

// tagList is tags as a JSON list ([] for none).
func tagList(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}
