package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Parse reads a rule in oslo.policy's language: checks ("role:admin",
// "rule:owner", "tenant_id:%(tenant_id)s", "field:networks:shared=True",
// "@", "!") joined by "and", "or", "not" and parentheses; "" allows all.
// "not" binds tighter than "and", "and" tighter than "or".
func Parse(rule string) (node, error) {
	toks := tokenize(rule)
	if len(toks) == 0 {
		return constCheck(true), nil
	}
	p := &parser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.i])
	}
	return n, nil
}

// tokenize splits on blanks and peels parentheses off the words.
func tokenize(rule string) []string {
	var out []string
	for _, w := range strings.Fields(rule) {
		for strings.HasPrefix(w, "(") {
			out = append(out, "(")
			w = w[1:]
		}
		var closing int
		for strings.HasSuffix(w, ")") && !strings.HasSuffix(w, ")s") {
			closing++
			w = w[:len(w)-1]
		}
		if w != "" {
			out = append(out, w)
		}
		for ; closing > 0; closing-- {
			out = append(out, ")")
		}
	}
	return out
}

type parser struct {
	toks []string
	i    int
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) or() (node, error) {
	var terms orCheck
	for {
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
		if !strings.EqualFold(p.peek(), "or") {
			break
		}
		p.i++
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) and() (node, error) {
	var terms andCheck
	for {
		n, err := p.not()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
		if !strings.EqualFold(p.peek(), "and") {
			break
		}
		p.i++
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) not() (node, error) {
	if strings.EqualFold(p.peek(), "not") {
		p.i++
		n, err := p.not()
		if err != nil {
			return nil, err
		}
		return notCheck{n}, nil
	}
	return p.atom()
}

func (p *parser) atom() (node, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, fmt.Errorf("rule ends early")
	case t == "(":
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.i++
		return n, nil
	case t == ")" || strings.EqualFold(t, "and") || strings.EqualFold(t, "or"):
		return nil, fmt.Errorf("unexpected %q", t)
	}
	p.i++
	return check(t)
}

// check parses one "kind:match" check.
func check(s string) (node, error) {
	switch s {
	case "@":
		return constCheck(true), nil
	case "!":
		return constCheck(false), nil
	}
	kind, match, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("check %q is not kind:match", s)
	}
	switch kind {
	case "rule":
		return ruleCheck(match), nil
	case "role":
		return roleCheck(match), nil
	case "field":
		// field:RESOURCE:FIELD=VALUE, VALUE "~regex" for a pattern.
		_, fv, ok1 := strings.Cut(match, ":")
		field, value, ok2 := strings.Cut(fv, "=")
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("check %q is not field:resource:field=value", s)
		}
		f := fieldCheck{field: field, value: value}
		if strings.HasPrefix(value, "~") {
			re, err := regexp.Compile(value[1:])
			if err != nil {
				return nil, fmt.Errorf("check %q: %w", s, err)
			}
			f.re = re
		}
		return f, nil
	}
	return genericCheck{key: kind, match: match}, nil
}
