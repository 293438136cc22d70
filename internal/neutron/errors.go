package neutron

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a Neutron fault: the API renders it as
// {"NeutronError": {"type": Type, "message": Message, "detail": ""}}
// with HTTP status Status. Lower layers return it (wrapped or not); the API
// finds it with errors.As.
type Error struct {
	Status  int
	Type    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Type, e.Message) }

// Errorf builds a fault with a formatted message.
func Errorf(status int, typ, format string, args ...any) *Error {
	return &Error{Status: status, Type: typ, Message: fmt.Sprintf(format, args...)}
}

// Constructors for the faults several layers raise. The type names are
// Neutron's exception class names, which clients match on.
//
// NotFound is the 404 of resource kind, named by its Neutron class (Network,
// SecurityGroup, ...): <kind>NotFound with the message Neutron gives it.
func NotFound(kind, id string) *Error {
	format := "%s %s could not be found." // NetworkNotFound, SubnetNotFound, PortNotFound, AgentNotFound, ...
	switch kind {
	case "SecurityGroup":
		format = "Security group %[2]s does not exist"
	case "SecurityGroupRule":
		format = "Security group rule %[2]s does not exist"
	case "Router":
		format = "Router %[2]s could not be found"
	case "FloatingIP":
		format = "Floating IP %[2]s could not be found"
	case "SubnetPool":
		format = "Subnet pool %[2]s could not be found."
	}
	return Errorf(http.StatusNotFound, kind+"NotFound", format, kind, id)
}

func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "HTTPBadRequest", format, args...)
}

func InvalidInput(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "InvalidInput", "Invalid input for operation: "+format, args...)
}

func Conflict(typ, format string, args ...any) *Error {
	return Errorf(http.StatusConflict, typ, format, args...)
}

// AsError returns the Neutron fault inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
