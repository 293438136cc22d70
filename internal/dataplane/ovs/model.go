package ovs

import (
	"maps"
	"reflect"
	"slices"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
)

// The OVSDB models below are written by hand: they carry only the columns
// this data plane reads or writes (libovsdb maps a model onto the server's
// schema column by column, so a partial model is valid), and five small
// structs are easier to review than modelgen's output for the whole
// Open_vSwitch schema.

// ovsRoot is the single Open_vSwitch row.
type ovsRoot struct {
	UUID        string            `ovsdb:"_uuid"`
	Bridges     []string          `ovsdb:"bridges"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

type bridge struct {
	UUID         string            `ovsdb:"_uuid"`
	Name         string            `ovsdb:"name"`
	Ports        []string          `ovsdb:"ports"`
	FailMode     *string           `ovsdb:"fail_mode"`
	DatapathType string            `ovsdb:"datapath_type"`
	Protocols    []string          `ovsdb:"protocols"`
	Controller   []string          `ovsdb:"controller"`
	ExternalIDs  map[string]string `ovsdb:"external_ids"`
	OtherConfig  map[string]string `ovsdb:"other_config"`
}

type port struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Interfaces  []string          `ovsdb:"interfaces"`
	Tag         *int              `ovsdb:"tag"`
	OtherConfig map[string]string `ovsdb:"other_config"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

type iface struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Type        string            `ovsdb:"type"`
	Options     map[string]string `ovsdb:"options"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
	Ofport      *int              `ovsdb:"ofport"`
	AdminState  *string           `ovsdb:"admin_state"`
	LinkState   *string           `ovsdb:"link_state"`
	MACInUse    *string           `ovsdb:"mac_in_use"`
	Error       *string           `ovsdb:"error"`
}

type controller struct {
	UUID        string `ovsdb:"_uuid"`
	Target      string `ovsdb:"target"`
	IsConnected bool   `ovsdb:"is_connected"`
}

func clientModel() (model.ClientDBModel, error) {
	return model.NewClientDBModel("Open_vSwitch", map[string]model.Model{
		"Open_vSwitch": &ovsRoot{},
		"Bridge":       &bridge{},
		"Port":         &port{},
		"Interface":    &iface{},
		"Controller":   &controller{},
	})
}

// monitorFields returns pointers to every column field of the model m
// (except _uuid), so the monitor asks for exactly the columns the model
// has: libovsdb's default is every column of the server's schema, which a
// partial model cannot hold.
func monitorFields(m any) []any {
	v := reflect.ValueOf(m).Elem()
	var out []any
	for i := 0; i < v.NumField(); i++ {
		if tag := v.Type().Field(i).Tag.Get("ovsdb"); tag != "" && tag != "_uuid" {
			out = append(out, v.Field(i).Addr().Interface())
		}
	}
	return out
}

// monitorOptions monitors each modelled table with its modelled columns.
func monitorOptions() []client.MonitorOption {
	var opts []client.MonitorOption
	for _, m := range []any{&ovsRoot{}, &bridge{}, &port{}, &iface{}, &controller{}} {
		opts = append(opts, client.WithTable(m, monitorFields(m)...))
	}
	return opts
}

// The models copy themselves (model.CloneableModel): libovsdb clones a
// row on every cache insert and update, and without these it does so by
// a JSON round trip through reflection.

func cloneRow[T any](p *T, deep func(*T)) model.Model {
	c := *p
	deep(&c)
	return &c
}

func cloneInto[T any](src *T, dst model.Model, deep func(*T)) {
	d := dst.(*T)
	*d = *src
	deep(d)
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func (r *ovsRoot) deep() {
	r.Bridges = slices.Clone(r.Bridges)
	r.ExternalIDs = maps.Clone(r.ExternalIDs)
}

func (r *ovsRoot) CloneModel() model.Model      { return cloneRow(r, (*ovsRoot).deep) }
func (r *ovsRoot) CloneModelInto(m model.Model) { cloneInto(r, m, (*ovsRoot).deep) }

func (b *bridge) deep() {
	b.Ports, b.Protocols, b.Controller = slices.Clone(b.Ports), slices.Clone(b.Protocols), slices.Clone(b.Controller)
	b.FailMode = clonePtr(b.FailMode)
	b.ExternalIDs, b.OtherConfig = maps.Clone(b.ExternalIDs), maps.Clone(b.OtherConfig)
}

func (b *bridge) CloneModel() model.Model      { return cloneRow(b, (*bridge).deep) }
func (b *bridge) CloneModelInto(m model.Model) { cloneInto(b, m, (*bridge).deep) }

func (p *port) deep() {
	p.Interfaces, p.Tag = slices.Clone(p.Interfaces), clonePtr(p.Tag)
	p.OtherConfig, p.ExternalIDs = maps.Clone(p.OtherConfig), maps.Clone(p.ExternalIDs)
}

func (p *port) CloneModel() model.Model      { return cloneRow(p, (*port).deep) }
func (p *port) CloneModelInto(m model.Model) { cloneInto(p, m, (*port).deep) }

func (i *iface) deep() {
	i.Options, i.ExternalIDs = maps.Clone(i.Options), maps.Clone(i.ExternalIDs)
	i.Ofport, i.AdminState, i.LinkState = clonePtr(i.Ofport), clonePtr(i.AdminState), clonePtr(i.LinkState)
	i.MACInUse, i.Error = clonePtr(i.MACInUse), clonePtr(i.Error)
}

func (i *iface) CloneModel() model.Model      { return cloneRow(i, (*iface).deep) }
func (i *iface) CloneModelInto(m model.Model) { cloneInto(i, m, (*iface).deep) }

func (c *controller) CloneModel() model.Model      { return cloneRow(c, func(*controller) {}) }
func (c *controller) CloneModelInto(m model.Model) { cloneInto(c, m, func(*controller) {}) }
