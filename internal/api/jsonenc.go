package api

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// Responses are encoded by appending to one []byte, column by column, as
// each resource's table says: no map or struct view per resource, no
// reflection for the common value types. Listing 10,000 ports is one
// buffer (BenchmarkRenderPorts10k). Strings are escaped exactly as
// encoding/json escapes them, so a body reads the same either way.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (HTML-safe, invalid UTF-8 as
// U+FFFD, U+2028/U+2029 escaped: encoding/json's rules).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendStrings appends a JSON list of strings; nil is [].
func appendStrings(b []byte, l []string) []byte {
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

func appendStringOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

func appendTime(b []byte, t time.Time, layout string) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, layout)
	return append(b, '"')
}

// appendRaw appends stored JSON (binding:profile, configurations), def
// when there is none.
func appendRaw(b []byte, r json.RawMessage, def string) []byte {
	if len(r) == 0 || string(r) == "null" {
		return append(b, def...)
	}
	return append(b, r...)
}

// appendValue is the slow path for nested values without an encoder of
// their own: encoding/json.
func appendValue(b []byte, v any) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		// Only values of our own types reach here; they always encode.
		panic("api: encoding " + err.Error())
	}
	return append(b, j...)
}

// appendList appends a JSON list, each element by enc; nil is [].
func appendList[E any](b []byte, l []E, enc func([]byte, *E) []byte) []byte {
	b = append(b, '[')
	for i := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = enc(b, &l[i])
	}
	return append(b, ']')
}

// object appends a JSON object from key/value steps: o.str("k", v)...
type object struct {
	b     []byte
	first bool
}

func openObject(b []byte) object { return object{b: append(b, '{'), first: true} }

func (o *object) key(k string) {
	if !o.first {
		o.b = append(o.b, ',')
	}
	o.first = false
	o.b = appendString(o.b, k)
	o.b = append(o.b, ':')
}

func (o *object) str(k, v string) *object { o.key(k); o.b = appendString(o.b, v); return o }
func (o *object) strOrNull(k, v string) *object {
	o.key(k)
	o.b = appendStringOrNull(o.b, v)
	return o
}
func (o *object) int(k string, v int64) *object {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
	return o
}
func (o *object) close() []byte { return append(o.b, '}') }
