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
func NotFound(kind, id string) *Error {
	// Neutron: NetworkNotFound, SubnetNotFound, PortNotFound, AgentNotFound.
	return Errorf(http.StatusNotFound, kind+"NotFound", "%s %s could not be found.", kind, id)
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
