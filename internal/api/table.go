package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"neutrino/internal/neutron"
)

// A resource's attribute table is the one place its attributes are named.
// Each column is one attribute: its row of Neutron's attribute map (which
// method may carry it, who may write and read it, how a value is validated
// and converted: the attribute embedded below), how it is rendered from
// the resource's Go type T, and where a converted value goes in the create
// request C and the update request U. Validation, defaults, policy
// visibility, request decoding and rendering all read the same columns;
// the handlers in server.go are generic over them (kind).

// column is one attribute of a resource of Go type T.
type column[T, C, U any] struct {
	attribute
	key      []byte // `"name":`
	enc      func(b []byte, x *T) []byte
	has      func(x *T) bool // nil: always rendered
	toCreate func(c *C, v any)
	toUpdate func(u *U, v any)
}

// onCreate sets where a converted value goes in a create request (see set).
// A column that a POST may carry without onCreate is accepted and ignored.
func (c *column[T, C, U]) onCreate(f func(*C, any)) *column[T, C, U] { c.toCreate = f; return c }

// onUpdate is onCreate for update requests.
func (c *column[T, C, U]) onUpdate(f func(*U, any)) *column[T, C, U] { c.toUpdate = f; return c }

// when renders the attribute only for resources where has is true
// (provider:* of a single-segment network, segments of a multi-segment one).
func (c *column[T, C, U]) when(has func(*T) bool) *column[T, C, U] { c.has = has; return c }

// set adapts a typed setter to a column: the converted value (of the
// type the column's converter returns; JSON null arrives as V's zero
// value) is handed over as V.
func set[R, V any](f func(r *R, v V)) func(*R, any) {
	return func(r *R, v any) {
		x, ok := v.(V)
		if !ok && v != nil {
			panic(fmt.Sprintf("api: attribute value %T where the table expects %T", v, x))
		}
		f(r, x)
	}
}

// encoder renders one attribute of a T; boolean marks booleans, whose
// filter values are normalized (shared=True matches true).
type encoder[T any] struct {
	fn      func(b []byte, x *T) []byte
	boolean bool
}

func str[T any](get func(*T) string) encoder[T] {
	return encoder[T]{fn: func(b []byte, x *T) []byte { return appendString(b, get(x)) }}
}

// strOrNull renders "" as null (optional strings: gateway_ip, ipv6 modes).
func strOrNull[T any](get func(*T) string) encoder[T] {
	return encoder[T]{fn: func(b []byte, x *T) []byte { return appendStringOrNull(b, get(x)) }}
}

// strDefault renders "" as def (binding:vnic_type "normal").
func strDefault[T any](get func(*T) string, def string) encoder[T] {
	return str(func(x *T) string {
		if s := get(x); s != "" {
			return s
		}
		return def
	})
}

func boolean[T any](get func(*T) bool) encoder[T] {
	return encoder[T]{boolean: true, fn: func(b []byte, x *T) []byte { return strconv.AppendBool(b, get(x)) }}
}

func integer[T any, N ~int | ~int64](get func(*T) N) encoder[T] {
	return encoder[T]{fn: func(b []byte, x *T) []byte { return strconv.AppendInt(b, int64(get(x)), 10) }}
}

// strings renders a list of strings; nil is [].
func strList[T any](get func(*T) []string) encoder[T] {
	return encoder[T]{fn: func(b []byte, x *T) []byte { return appendStrings(b, get(x)) }}
}

// timestamp renders a time in layout; the zero time is null.
func timestamp[T any](get func(*T) time.Time, layout string) encoder[T] {
	return encoder[T]{fn: func(b []byte, x *T) []byte { return appendTime(b, get(x), layout) }}
}

// rawJSON renders stored JSON, def when there is none.
func rawJSON[T any](get func(*T) json.RawMessage, def string) encoder[T] {
	return encoder[T]{fn: func(b []byte, x *T) []byte { return appendRaw(b, get(x), def) }}
}

// literal renders a fixed JSON value (attributes neutrino has in Neutron's
// shape but nothing to put in: availability zones, address scopes).
func literal[T any](js string) encoder[T] {
	return encoder[T]{fn: func(b []byte, _ *T) []byte { return append(b, js...) }}
}

// listOf renders a list with an element encoder; nil is [].
func listOf[T, E any](get func(*T) []E, each func([]byte, *E) []byte) encoder[T] {
	return encoder[T]{fn: func(b []byte, x *T) []byte { return appendList(b, get(x), each) }}
}

// table is a resource's attribute table plus the few facts about it that
// are not attributes.
type table[T, C, U any] struct {
	name, collection string
	cols             []column[T, C, U]
	extraFilters     []string // tags, tags-any, ... (filters that are not attributes)
	adminOnly        bool     // invisible to non-admins (agents)
	// facts: what policy reads about a resource (owner, network, shared).
	facts func(x *T) entity
	// finishCreate completes a decoded create request: owner, checks that
	// span attributes. finishUpdate likewise (ifRev is If-Match's revision).
	finishCreate func(c *C, project string, a map[string]any) *neutron.Error
	finishUpdate func(u *U, ifRev int64, a map[string]any) *neutron.Error
}

func newTable[T, C, U any](name, collection string) *table[T, C, U] {
	return &table[T, C, U]{name: name, collection: collection}
}

// add appends a column; the returned pointer is for the chained onCreate,
// onUpdate and when calls of the same statement only.
func (t *table[T, C, U]) add(a attribute, e encoder[T]) *column[T, C, U] {
	a.boolean = e.boolean
	t.cols = append(t.cols, column[T, C, U]{attribute: a, enc: e.fn, key: append(appendString(nil, a.name), ':')})
	return &t.cols[len(t.cols)-1]
}

// column finds a column by name (to change a shared one, e.g. ports' tags).
func (t *table[T, C, U]) column(name string) *column[T, C, U] {
	for i := range t.cols {
		if t.cols[i].name == name {
			return &t.cols[i]
		}
	}
	panic("api: no attribute " + name + " in " + t.name)
}

func (t *table[T, C, U]) tagged() {
	t.extraFilters = append(t.extraFilters, "tags", "tags-any", "not-tags", "not-tags-any")
}

// standard adds the standard attributes (id, name, description, owner,
// tags, timestamps, revision) of a resource embedding neutron.Standard.
func (t *table[T, C, U]) standard(std func(*T) *neutron.Standard, name, desc func(*C, string), uname, udesc func(*U, string)) {
	s := func(get func(*neutron.Standard) string) func(*T) string {
		return func(x *T) string { return get(std(x)) }
	}
	project := s(func(s *neutron.Standard) string { return s.ProjectID })
	t.add(ro("id"), str(s(func(s *neutron.Standard) string { return s.ID })))
	t.add(rw("name", convString(255)), str(s(func(s *neutron.Standard) string { return s.Name }))).
		onCreate(set(name)).onUpdate(set(uname))
	t.add(rw("description", convString(255)), str(s(func(s *neutron.Standard) string { return s.Description }))).
		onCreate(set(desc)).onUpdate(set(udesc))
	// The owner is decided from both by createProject (policy.go).
	t.add(po("tenant_id", convString(255)), str(project))
	t.add(po("project_id", convString(255)), str(project))
	t.add(ro("created_at"), timestamp(func(x *T) time.Time { return std(x).CreatedAt }, timeFormat))
	t.add(ro("updated_at"), timestamp(func(x *T) time.Time { return std(x).UpdatedAt }, timeFormat))
	t.add(ro("revision_number"), integer(func(x *T) int64 { return std(x).RevisionNumber }))
	t.add(ro("tags"), strList(func(x *T) []string { return std(x).Tags }))
}

const (
	timeFormat      = "2006-01-02T15:04:05Z"
	agentTimeFormat = "2006-01-02 15:04:05"
)

// resource is the table without its Go types: what validation
// (parseBody), policy (deniedAttrs, selection) and queries (parseList) read.
func (t *table[T, C, U]) resource() *resource {
	attrs := make([]attribute, len(t.cols))
	for i := range t.cols {
		attrs[i] = t.cols[i].attribute
	}
	r := newResource(t.name, t.collection, attrs...)
	r.extraFilters = t.extraFilters
	return r
}

// encode appends x as a JSON object with the columns sel picks.
func (t *table[T, C, U]) encode(b []byte, x *T, sel []int) []byte {
	b = append(b, '{')
	first := true
	for _, i := range sel {
		c := &t.cols[i]
		if c.has != nil && !c.has(x) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, c.key...)
		b = c.enc(b, x)
	}
	return append(b, '}')
}

func (t *table[T, C, U]) entity(x *T) *entity {
	e := t.facts(x)
	e.encode = func(b []byte, sel []int) []byte { return t.encode(b, x, sel) }
	return &e
}

// decode writes the converted values of a body into a request through the
// columns' setters, in table order.
func decode[T, C, U, R any](t *table[T, C, U], a map[string]any, setter func(*column[T, C, U]) func(*R, any)) *R {
	r := new(R)
	for i := range t.cols {
		c := &t.cols[i]
		if v, ok := a[c.name]; ok {
			if f := setter(c); f != nil {
				f(r, v)
			}
		}
	}
	return r
}

// crud is a resource's Backend methods; nil create/update: not allowed.
type crud[T, C, U any] struct {
	get    func(context.Context, string) (*T, error)
	list   func(context.Context, neutron.ListQuery) ([]T, error)
	create func(context.Context, []C) ([]*T, error) // all in one transaction
	update func(context.Context, string, U) (*T, error)
	delete func(context.Context, string) error
}

// kind makes the generic handlers' view of the resource.
func (t *table[T, C, U]) kind(b crud[T, C, U]) *kind {
	one := func(x *T, err error) (*entity, error) {
		if err != nil {
			return nil, err
		}
		return t.entity(x), nil
	}
	k := &kind{res: t.resource(), adminOnly: t.adminOnly, delete: b.delete,
		get: func(ctx context.Context, id string) (*entity, error) { return one(b.get(ctx, id)) },
		list: func(ctx context.Context, q neutron.ListQuery) ([]*entity, error) {
			l, err := b.list(ctx, q)
			if err != nil {
				return nil, err
			}
			out := make([]*entity, len(l))
			for i := range l {
				out[i] = t.entity(&l[i])
			}
			return out, nil
		},
	}
	if b.create != nil {
		k.create = func(ctx context.Context, items []newItem) ([]*entity, error) {
			// Every item is decoded and checked before anything is created.
			reqs := make([]C, len(items))
			for i, it := range items {
				req := decode(t, it.attrs, func(c *column[T, C, U]) func(*C, any) { return c.toCreate })
				if t.finishCreate != nil {
					if e := t.finishCreate(req, it.project, it.attrs); e != nil {
						return nil, e
					}
				}
				reqs[i] = *req
			}
			out, err := b.create(ctx, reqs)
			if err != nil {
				return nil, err
			}
			ents := make([]*entity, len(out))
			for i, x := range out {
				ents[i] = t.entity(x)
			}
			return ents, nil
		}
	}
	if b.update != nil {
		k.update = func(ctx context.Context, id string, a map[string]any, ifRev int64) (*entity, error) {
			req := decode(t, a, func(c *column[T, C, U]) func(*U, any) { return c.toUpdate })
			if t.finishUpdate != nil {
				if e := t.finishUpdate(req, ifRev, a); e != nil {
					return nil, e
				}
			}
			return one(b.update(ctx, id, *req))
		}
	}
	return k
}
