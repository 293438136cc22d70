package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"neutrino/internal/neutron"
)

// Text a client controls (paths, query strings, identity headers, JSON
// strings) is checked here, once, before any handler or database sees it:
// PostgreSQL refuses NUL and invalid UTF-8 in text columns with an error
// that would surface as a 500, and SQLite and MariaDB would store or match
// something other than what was sent. Every dialect answers the same 400.

// badText reports whether s cannot be stored as text on every database.
func badText(s string) bool {
	return !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0
}

func errBadText(where string) *neutron.Error {
	return neutron.BadRequest("Invalid %s: NUL characters and invalid UTF-8 are not allowed", where)
}

// maxIdentity bounds identity header values: they are stored as
// project_id (VARCHAR(255) on every database).
const maxIdentity = 255

// checkCaller refuses identity header values no column can hold.
func checkCaller(c Caller) *neutron.Error {
	for _, v := range []string{c.UserID, c.ProjectID} {
		if badText(v) {
			return errBadText("identity header")
		}
		if utf8.RuneCountInString(v) > maxIdentity {
			return neutron.BadRequest("Invalid identity header: longer than %d characters", maxIdentity)
		}
	}
	return nil
}

// parseQuery parses a raw query string strictly. url.ParseQuery drops a
// pair with a malformed percent-escape (or a ';') and carries on, so a
// filter a client sent silently disappears and the unfiltered collection
// comes back; here such a query is a 400 instead. ';' is an ordinary
// character, as in Neutron (Python's parse_qsl splits on '&' only); '+'
// is a space as in every form decoder.
func parseQuery(raw string) (url.Values, *neutron.Error) {
	v := url.Values{}
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(val)
		if err1 != nil || err2 != nil {
			return nil, neutron.BadRequest("Invalid query string: %q is not correctly percent-encoded", pair)
		}
		if badText(key) || badText(value) {
			return nil, errBadText("query string")
		}
		v[key] = append(v[key], value)
	}
	return v, nil
}

// checkPath refuses a decoded URL path carrying NUL or invalid UTF-8
// (resource ids and tags come from it).
func checkPath(r *http.Request) *neutron.Error {
	if badText(r.URL.Path) {
		return errBadText("resource path")
	}
	return nil
}

// decodeJSON decodes a request body as Neutron's body hook does: anything
// that is not a JSON object is "Body contains invalid data" (Neutron
// ignores the Content-Type header and parses every POST/PUT body as JSON;
// bytes that are not UTF-8 fail that parse). Numbers stay json.Number.
// Strings (keys and values) holding NUL are refused here, for every
// resource and attribute at once.
func decodeJSON(body []byte) (map[string]any, *neutron.Error) {
	invalid := neutron.BadRequest("Body contains invalid data")
	if !utf8.Valid(body) {
		return nil, invalid
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil || dec.More() {
		return nil, invalid
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, invalid
	}
	if hasNUL(obj) {
		return nil, errBadText("request body")
	}
	return obj, nil
}

func hasNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.IndexByte(x, 0) >= 0
	case []any:
		for _, e := range x {
			if hasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e) {
				return true
			}
		}
	}
	return false
}
