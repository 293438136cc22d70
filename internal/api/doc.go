// Package api serves Neutron's v2.0 REST API over net/http: routing,
// request-body validation against a per-resource attribute map, rendering
// with Neutron's keys, fields/filters/sorting/pagination, NeutronError fault
// bodies, the identity of the caller (noauth or trusted Keystone headers)
// and Neutron's default policy (who may read or write provider:*,
// segments and binding:*; which project sees what).
//
// The attribute map and the policy are written by hand rather than with a
// generic policy library because Neutron's defaults are a short, fixed rule
// set and clients depend on the exact fault types and messages.
//
// # One attribute table per resource
//
// Each resource is one table (table.go) in its own file (network.go,
// subnet.go, port.go, agent.go): a column per attribute, in Neutron's
// attribute-map order. A column is the attribute's row of Neutron's
// RESOURCE_ATTRIBUTE_MAP (ro/rw/po/pu with a converter from attrs.go;
// .req(), .admin(), .adminWriteOnly(), .adminReadOnly(), .inCreateOnly()),
// an encoder reading it from the resource's Go type (str, strOrNull,
// boolean, integer, strList, timestamp, rawJSON, listOf, literal), and
// setters writing the converted value into the create and update requests
// (onCreate/onUpdate with set(func(*C, V))). Validation (parseBody),
// defaults, policy (deniedAttrs, the admin-only attributes a response
// leaves out), filters and sort keys (parseList), request decoding and
// rendering all read these columns; the handlers in server.go are generic
// over them.
//
// To add an attribute: one t.add(...) line in its resource's table, plus
// its fields in internal/neutron (the resource type and its XCreate/XUpdate
// requests) and its meaning in ml2/store. To add a resource: a new file
// with its table (newTable, t.standard for standard attributes, t.add per
// attribute, t.facts for what policy reads: owner, network, shared; and
// finishCreate/finishUpdate for the owner, If-Match and checks spanning
// attributes), its Backend methods, one entry in New's kinds map, and
// its read rule in visible (policy.go) if it is not simply the owner's.
// Responses are encoded by appending JSON column by column (jsonenc.go):
// listing 10,000 ports is one buffer, no map or struct per port.
package api
