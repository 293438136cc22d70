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
package api
