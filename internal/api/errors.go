package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"neutrino/internal/neutron"
)

// faultBody is Neutron's error envelope.
type faultBody struct {
	NeutronError struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Detail  string `json:"detail"`
	} `json:"NeutronError"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"NeutronError": {"type": "HTTPInternalServerError", "message": "Request Failed: internal server error while processing your request.", "detail": ""}}`)
	}
	writeBody(w, status, b)
}

// writeBody answers with an encoded JSON body.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func writeFault(w http.ResponseWriter, e *neutron.Error) {
	var f faultBody
	f.NeutronError.Type = e.Type
	f.NeutronError.Message = e.Message
	writeJSON(w, e.Status, f)
}

// writeErr renders any error: a *neutron.Error inside it as that fault,
// anything else as a 500 (logged, not shown: it may hold internals).
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := neutron.AsError(err); ok {
		writeFault(w, e)
		return
	}
	s.log.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	writeFault(w, &neutron.Error{Status: http.StatusInternalServerError, Type: "HTTPInternalServerError",
		Message: "Request Failed: internal server error while processing your request."})
}

// Faults raised by the HTTP layer itself.
func errNotFoundResource() *neutron.Error {
	return neutron.Errorf(http.StatusNotFound, "HTTPNotFound", "The resource could not be found.")
}

func errMethodNotAllowed() *neutron.Error {
	return neutron.Errorf(http.StatusMethodNotAllowed, "HTTPMethodNotAllowed", "The server could not comply with the request since it is either malformed or otherwise incorrect.")
}

// errPolicy is PolicyNotAuthorized with Neutron's rendering of the failed
// rule: (rule:create_port and rule:create_port:binding:host_id).
func errPolicy(action string, attrs []string) *neutron.Error {
	rule := "rule:" + action
	for _, a := range attrs {
		rule = "(" + rule + " and rule:" + action + ":" + a + ")"
	}
	if len(attrs) == 0 {
		rule = "(" + rule + ")"
	}
	return neutron.Errorf(http.StatusForbidden, "PolicyNotAuthorized", "%s is disallowed by policy", rule)
}

// kindTitle is the resource kind as Neutron's NotFound types spell it.
func kindTitle(kind string) string {
	return strings.ToUpper(kind[:1]) + kind[1:]
}

// notFound is the 404 of a resource a caller may not see (as if it did not
// exist), with the fault each Neutron resource raises.
func notFound(kind, id string) *neutron.Error {
	switch kind { // the Neutron classes kindTitle does not spell
	case "security_group":
		kind = "SecurityGroup"
	case "security_group_rule":
		kind = "SecurityGroupRule"
	case "floatingip":
		kind = "FloatingIP"
	case "subnetpool":
		kind = "SubnetPool"
	default:
		kind = kindTitle(kind)
	}
	return neutron.NotFound(kind, id)
}
