package config

import (
	"bytes"
	"fmt"
	"strings"
)

// entry is one "name = value" assignment as written in a file; File, Line,
// Section and Name are kept as written so messages point at the user's text.
type entry struct {
	File    string
	Line    int
	Section string // as written, e.g. "OVS"
	Name    string
	Value   string
}

// where renders the location of an entry for messages:
// "ml2_conf.ini: [ml2_type_vxlan] vni_ranges".
func (e entry) where() string {
	if e.File == "" {
		return fmt.Sprintf("[%s] %s (default)", e.Section, e.Name)
	}
	return fmt.Sprintf("%s: [%s] %s", e.File, e.Section, e.Name)
}

// sectionKey folds a section name the way neutrino looks it up: oslo.config
// lowercases group names, and DEFAULT is matched in any case too.
func sectionKey(s string) string {
	if strings.EqualFold(s, "DEFAULT") {
		return "DEFAULT"
	}
	return strings.ToLower(s)
}

// parseINI splits one file into assignments, following oslo.config's
// iniparser: "#" or ";" at the start of a line is a comment; "[name]" opens a
// section; "key = value" or "key: value" (the first separator wins); an
// indented line continues the previous value (joined with "\n"); a blank
// line ends a value; a value wrapped in matching quotes is unquoted. Beyond
// oslo, an inline comment (" #..." or " ;..." after whitespace) is dropped,
// because operators write them and oslo would keep them in the value.
func parseINI(file string, data []byte) ([]entry, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM from Windows editors
	var (
		out     []entry
		section string
		open    = -1 // index in out of the value that may still continue
		inSect  bool
	)
	lines := strings.Split(string(data), "\n")
	for i, raw := range lines {
		lineNo := i + 1
		line := strings.TrimRight(raw, " \t\r\f\v")
		if line == "" {
			open = -1
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			trimmed := strings.TrimLeft(line, " \t")
			if trimmed[0] == '#' || trimmed[0] == ';' {
				continue // an indented comment line
			}
			if open < 0 {
				return nil, fmt.Errorf("%s:%d: indented line %q continues no option", file, lineNo, trimmed)
			}
			v := stripInlineComment(trimmed)
			e := &out[open]
			e.Value = unquote(strings.TrimSpace(e.Value + "\n" + v))
			continue
		}
		open = -1
		switch line[0] {
		case '#', ';':
			continue
		case '[':
			if line[len(line)-1] != ']' {
				return nil, fmt.Errorf("%s:%d: section header %q has no closing ]", file, lineNo, line)
			}
			name := strings.TrimSpace(line[1 : len(line)-1])
			if name == "" {
				return nil, fmt.Errorf("%s:%d: empty section name", file, lineNo)
			}
			section, inSect = name, true
			continue
		}
		sep := strings.IndexAny(line, "=:")
		if sep < 0 {
			return nil, fmt.Errorf("%s:%d: %q is not \"name = value\"", file, lineNo, line)
		}
		name := strings.TrimSpace(line[:sep])
		if name == "" {
			return nil, fmt.Errorf("%s:%d: %q has no option name", file, lineNo, line)
		}
		if !inSect {
			return nil, fmt.Errorf("%s:%d: option %q is outside any [section]", file, lineNo, name)
		}
		value := unquote(strings.TrimSpace(stripInlineComment(line[sep+1:])))
		out = append(out, entry{File: file, Line: lineNo, Section: section, Name: name, Value: value})
		open = len(out) - 1
	}
	return out, nil
}

// stripInlineComment cuts the value at the first '#' or ';' that follows
// whitespace ("198.18.255.101      #Use 102 ..."); a '#' inside a word
// (a password "pa#ss", a URL fragment) is kept.
func stripInlineComment(s string) string {
	for i := 1; i < len(s); i++ {
		if (s[i] == '#' || s[i] == ';') && (s[i-1] == ' ' || s[i-1] == '\t') {
			return strings.TrimRight(s[:i], " \t")
		}
	}
	return s
}

// unquote removes one pair of matching surrounding quotes, as oslo does.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
