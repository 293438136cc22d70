package openflow

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Instructions are a flow's actions (one apply-actions instruction) and
// an optional goto_table, the only instructions the data plane uses.
type Instructions struct {
	actions   []action
	gotoTable int // -1: none
}

type action interface {
	append(b []byte) []byte
}

const (
	nxVendor = 0x00002320

	// Nicira action subtypes.
	nxastRegMove       = 6
	nxastRegLoad       = 7
	nxastResubmitTable = 14
	nxastOutputReg     = 15
	nxastLearn         = 16
	nxastConjunction   = 34
	nxastCT            = 35

	// OpenFlow 1.1+ action types.
	ofpatOutput   = 0
	ofpatPushVLAN = 17
	ofpatPopVLAN  = 18
	ofpatSetField = 25
	ofpatVendor   = 0xffff

	ofpitGotoTable    = 1
	ofpitApplyActions = 4

	// 16-bit OFPP_IN_PORT, as resubmit carries it.
	ofpp16InPort = 0xfff8
	// Ports at or above this are reserved (OpenFlow 1.1+ numbering).
	ofppMax = 0xffffff00
)

// reservedPorts are the named ports an output may use.
var reservedPorts = map[string]uint32{
	"IN_PORT": 0xfffffff8, "NORMAL": 0xfffffffa, "FLOOD": 0xfffffffb, "ALL": 0xfffffffc, "LOCAL": 0xfffffffe,
}

// splitTop splits s at the commas outside parentheses.
func splitTop(s string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced parentheses in %q", s)
			}
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced parentheses in %q", s)
	}
	out = append(out, s[start:])
	for _, t := range out {
		if t == "" {
			return nil, fmt.Errorf("empty element in %q", s)
		}
	}
	return out, nil
}

// parseInstructions reads an actions= list: "drop", or actions
// optionally followed by goto_table:N.
func parseInstructions(s string) (Instructions, error) {
	in := Instructions{gotoTable: -1}
	if s == "drop" {
		return in, nil
	}
	toks, err := splitTop(s)
	if err != nil {
		return in, err
	}
	for i, tok := range toks {
		if t, ok := strings.CutPrefix(tok, "goto_table:"); ok {
			if i != len(toks)-1 {
				return in, fmt.Errorf("goto_table must be the last action in %q", s)
			}
			n, err := parseUint(t, 8)
			if err != nil || n == 0xff {
				return in, fmt.Errorf("bad goto_table %q", tok)
			}
			in.gotoTable = int(n)
			continue
		}
		a, err := parseAction(tok)
		if err != nil {
			return in, err
		}
		in.actions = append(in.actions, a)
	}
	return in, nil
}

func (in Instructions) append(b []byte) []byte {
	if len(in.actions) > 0 {
		start := len(b)
		b = binary.BigEndian.AppendUint16(b, ofpitApplyActions)
		b = append(b, 0, 0, 0, 0, 0, 0) // length, pad
		for _, a := range in.actions {
			b = a.append(b)
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	if in.gotoTable >= 0 {
		b = binary.BigEndian.AppendUint16(b, ofpitGotoTable)
		b = binary.BigEndian.AppendUint16(b, 8)
		b = append(b, uint8(in.gotoTable), 0, 0, 0)
	}
	return b
}

// parseAction reads one action in ovs-ofctl syntax.
func parseAction(tok string) (action, error) {
	if port, ok := reservedPorts[tok]; ok {
		return output{port}, nil
	}
	if tok == "pop_vlan" {
		return popVLAN{}, nil
	}
	if name, args, ok := strings.Cut(tok, "("); ok && strings.HasSuffix(args, ")") {
		args = strings.TrimSuffix(args, ")")
		switch name {
		case "resubmit":
			return parseResubmit(args)
		case "conjunction":
			return parseConjunction(args)
		case "ct":
			return parseCT(args)
		case "learn":
			return parseLearn(args)
		}
		return nil, fmt.Errorf("unsupported action %q", tok)
	}
	name, arg, ok := strings.Cut(tok, ":")
	if !ok {
		return nil, fmt.Errorf("unsupported action %q", tok)
	}
	switch name {
	case "output":
		if port, ok := reservedPorts[arg]; ok {
			return output{port}, nil
		}
		if strings.Contains(arg, "[") {
			sf, err := parseSubfield(arg)
			if err != nil {
				return nil, fmt.Errorf("action %q: %w", tok, err)
			}
			return outputReg{sf}, nil
		}
		n, err := parseUint(arg, 32)
		if err != nil || n >= ofppMax {
			return nil, fmt.Errorf("action %q: bad port", tok)
		}
		return output{uint32(n)}, nil
	case "push_vlan":
		n, err := parseUint(arg, 16)
		if err != nil {
			return nil, fmt.Errorf("action %q: %w", tok, err)
		}
		return pushVLAN{uint16(n)}, nil
	case "set_field":
		return parseSetField(arg)
	case "load":
		return parseLoad(arg)
	case "move":
		src, dst, ok := strings.Cut(arg, "->")
		if !ok {
			return nil, fmt.Errorf("action %q: want move:SRC->DST", tok)
		}
		s, err := parseSubfield(src)
		if err != nil {
			return nil, fmt.Errorf("action %q: %w", tok, err)
		}
		d, err := parseSubfield(dst)
		if err != nil {
			return nil, fmt.Errorf("action %q: %w", tok, err)
		}
		if s.bits != d.bits {
			return nil, fmt.Errorf("action %q: source and destination differ in width (%d, %d bits)", tok, s.bits, d.bits)
		}
		return regMove{s, d}, nil
	}
	return nil, fmt.Errorf("unsupported action %q", tok)
}

// nxHeader starts a Nicira vendor action of length n (a multiple of 8).
func nxHeader(b []byte, n int, subtype uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, ofpatVendor)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = binary.BigEndian.AppendUint32(b, nxVendor)
	return binary.BigEndian.AppendUint16(b, subtype)
}

type output struct{ port uint32 }

func (a output) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, ofpatOutput)
	b = binary.BigEndian.AppendUint16(b, 16)
	b = binary.BigEndian.AppendUint32(b, a.port)
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0) // max_len 0, pad
}

type outputReg struct{ src subfield }

func (a outputReg) append(b []byte) []byte {
	b = nxHeader(b, 24, nxastOutputReg)
	b = binary.BigEndian.AppendUint16(b, a.src.ofsNbits())
	b = binary.BigEndian.AppendUint32(b, a.src.f.header(false))
	b = binary.BigEndian.AppendUint16(b, 0xffff) // max_len, as ovs-ofctl sets it
	return append(b, 0, 0, 0, 0, 0, 0)
}

type pushVLAN struct{ ethType uint16 }

func (a pushVLAN) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, ofpatPushVLAN)
	b = binary.BigEndian.AppendUint16(b, 8)
	b = binary.BigEndian.AppendUint16(b, a.ethType)
	return append(b, 0, 0)
}

type popVLAN struct{}

func (popVLAN) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, ofpatPopVLAN)
	b = binary.BigEndian.AppendUint16(b, 8)
	return append(b, 0, 0, 0, 0)
}

// settable are the fields set_field may write in our flows.
var settable = map[string]bool{
	"vlan_vid": true, "tun_id": true, "eth_src": true, "eth_dst": true, "metadata": true,
	"arp_op": true, "arp_spa": true, "arp_tpa": true, "arp_sha": true, "arp_tha": true,
}

type setField struct {
	f     *field
	value []byte
}

func parseSetField(arg string) (action, error) {
	i := strings.LastIndex(arg, "->")
	if i < 0 {
		return nil, fmt.Errorf("action set_field:%s: want set_field:VALUE->FIELD", arg)
	}
	val, name := arg[:i], arg[i+2:]
	f := byName[name]
	if f == nil || !settable[name] && !strings.HasPrefix(name, "reg") {
		return nil, fmt.Errorf("action set_field:%s: unsupported field %q", arg, name)
	}
	v, err := parseValue(f, val)
	if err != nil {
		return nil, fmt.Errorf("action set_field:%s: %w", arg, err)
	}
	return setField{f, v}, nil
}

func (a setField) append(b []byte) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, ofpatSetField)
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint32(b, a.f.header(false))
	b = append(b, a.value...)
	b = pad8(b, start)
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	return b
}

// regLoad is Nicira's reg_load: OVS prints it as load:V->FIELD[..]
// (a set_field would print as set_field), so load: text is sent as it.
type regLoad struct {
	dst   subfield
	value uint64
}

func parseLoad(arg string) (action, error) {
	val, dst, ok := strings.Cut(arg, "->")
	if !ok {
		return nil, fmt.Errorf("action load:%s: want load:VALUE->FIELD[...]", arg)
	}
	d, err := parseSubfield(dst)
	if err != nil {
		return nil, fmt.Errorf("action load:%s: %w", arg, err)
	}
	if d.bits > 64 {
		return nil, fmt.Errorf("action load:%s: fields wider than 64 bits are not supported", arg)
	}
	v, err := parseUint(val, d.bits)
	if err != nil {
		return nil, fmt.Errorf("action load:%s: %w", arg, err)
	}
	return regLoad{d, v}, nil
}

func (a regLoad) append(b []byte) []byte {
	b = nxHeader(b, 24, nxastRegLoad)
	b = binary.BigEndian.AppendUint16(b, a.dst.ofsNbits())
	b = binary.BigEndian.AppendUint32(b, a.dst.f.header(false))
	return binary.BigEndian.AppendUint64(b, a.value)
}

type regMove struct{ src, dst subfield }

func (a regMove) append(b []byte) []byte {
	b = nxHeader(b, 24, nxastRegMove)
	b = binary.BigEndian.AppendUint16(b, uint16(a.src.bits))
	b = binary.BigEndian.AppendUint16(b, uint16(a.src.ofs))
	b = binary.BigEndian.AppendUint16(b, uint16(a.dst.ofs))
	b = binary.BigEndian.AppendUint32(b, a.src.f.header(false))
	return binary.BigEndian.AppendUint32(b, a.dst.f.header(false))
}

type resubmit struct {
	port  uint16
	table uint8
}

// parseResubmit reads "PORT,TABLE" (PORT empty: the packet's in_port).
func parseResubmit(args string) (action, error) {
	p, t, ok := strings.Cut(args, ",")
	if !ok {
		return nil, fmt.Errorf("action resubmit(%s): want resubmit([PORT],TABLE)", args)
	}
	r := resubmit{port: ofpp16InPort}
	if p != "" {
		n, err := parseUint(p, 16)
		if err != nil || n >= 0xff00 {
			return nil, fmt.Errorf("action resubmit(%s): bad port", args)
		}
		r.port = uint16(n)
	}
	n, err := parseUint(t, 8)
	if err != nil || n == 0xff {
		return nil, fmt.Errorf("action resubmit(%s): bad table", args)
	}
	r.table = uint8(n)
	return r, nil
}

func (a resubmit) append(b []byte) []byte {
	b = nxHeader(b, 16, nxastResubmitTable)
	b = binary.BigEndian.AppendUint16(b, a.port)
	return append(b, a.table, 0, 0, 0)
}

type conjunction struct {
	id              uint32
	clause, nClause uint8 // clause is 0-based on the wire
}

// parseConjunction reads "ID,K/N" (clause K of N, 1-based).
func parseConjunction(args string) (action, error) {
	id, kn, ok1 := strings.Cut(args, ",")
	k, n, ok2 := strings.Cut(kn, "/")
	i, err1 := parseUint(id, 32)
	kv, err2 := parseUint(k, 8)
	nv, err3 := parseUint(n, 8)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil || nv < 2 || nv > 64 || kv < 1 || kv > nv {
		return nil, fmt.Errorf("action conjunction(%s): want conjunction(ID,K/N), 1 <= K <= N, 2 <= N <= 64", args)
	}
	return conjunction{id: uint32(i), clause: uint8(kv - 1), nClause: uint8(nv)}, nil
}

func (a conjunction) append(b []byte) []byte {
	b = nxHeader(b, 16, nxastConjunction)
	b = append(b, a.clause, a.nClause)
	return binary.BigEndian.AppendUint32(b, a.id)
}

// ct is the conntrack action: ct(commit,table=N,zone=Z|zone=FIELD[..],exec(...)).
type ct struct {
	commit, force bool
	table         uint8 // 0xff: no recirculation
	zoneSrc       *subfield
	zoneImm       uint16
	exec          []action
}

func parseCT(args string) (action, error) {
	c := ct{table: 0xff}
	toks, err := splitTop(args)
	if err != nil {
		return nil, fmt.Errorf("action ct(%s): %w", args, err)
	}
	for _, tok := range toks {
		name, val, _ := strings.Cut(tok, "=")
		switch {
		case tok == "commit":
			c.commit = true
		case tok == "force":
			c.force = true
		case name == "table":
			n, err := parseUint(val, 8)
			if err != nil || n == 0xff {
				return nil, fmt.Errorf("action ct(%s): bad table", args)
			}
			c.table = uint8(n)
		case name == "zone" && strings.Contains(val, "["):
			sf, err := parseSubfield(val)
			if err != nil || sf.bits != 16 {
				return nil, fmt.Errorf("action ct(%s): zone wants a 16-bit subfield", args)
			}
			c.zoneSrc = &sf
		case name == "zone":
			n, err := parseUint(val, 16)
			if err != nil {
				return nil, fmt.Errorf("action ct(%s): bad zone", args)
			}
			c.zoneImm = uint16(n)
		case strings.HasPrefix(tok, "exec(") && strings.HasSuffix(tok, ")"):
			inner, err := splitTop(strings.TrimSuffix(strings.TrimPrefix(tok, "exec("), ")"))
			if err != nil {
				return nil, fmt.Errorf("action ct(%s): %w", args, err)
			}
			for _, t := range inner {
				a, err := parseAction(t)
				if err != nil {
					return nil, fmt.Errorf("action ct(%s): %w", args, err)
				}
				c.exec = append(c.exec, a)
			}
		default:
			return nil, fmt.Errorf("action ct(%s): unsupported argument %q", args, tok)
		}
	}
	return c, nil
}

func (a ct) append(b []byte) []byte {
	start := len(b)
	b = nxHeader(b, 0, nxastCT)
	var flags uint16
	if a.commit {
		flags |= 1
	}
	if a.force {
		flags |= 2
	}
	b = binary.BigEndian.AppendUint16(b, flags)
	if a.zoneSrc != nil {
		b = binary.BigEndian.AppendUint32(b, a.zoneSrc.f.header(false))
		b = binary.BigEndian.AppendUint16(b, a.zoneSrc.ofsNbits())
	} else {
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint16(b, a.zoneImm)
	}
	b = append(b, a.table, 0, 0, 0, 0, 0) // recirc_table, pad[3], alg 0
	for _, e := range a.exec {
		b = e.append(b)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	return b
}

// learn is Nicira's learn action.
type learn struct {
	idle, hard, priority uint16
	cookie               uint64
	table                uint8
	finIdle, finHard     uint16
	specs                []learnSpec
}

const (
	learnSrcImmediate = 1 << 13
	learnDstLoad      = 1 << 11
	learnDstOutput    = 2 << 11
)

// learnSpec is one flow_mod_spec: a match, load or output of the
// learned flow, from a field of the packet or an immediate value.
type learnSpec struct {
	kind     uint16 // learnDstLoad, learnDstOutput or 0 (match)
	src, dst subfield
	imm      *uint64 // immediate source
}

func parseLearn(args string) (action, error) {
	l := learn{priority: 0x8000, table: 1}
	toks, err := splitTop(args)
	if err != nil {
		return nil, fmt.Errorf("action learn(%s): %w", args, err)
	}
	for _, tok := range toks {
		s, err := parseLearnArg(&l, tok)
		if err != nil {
			return nil, fmt.Errorf("action learn(...): %q: %w", tok, err)
		}
		if s != nil {
			l.specs = append(l.specs, *s)
		}
	}
	return l, nil
}

// parseLearnArg applies a parameter (table=, priority=, ...) to l or
// returns the spec tok is.
func parseLearnArg(l *learn, tok string) (*learnSpec, error) {
	if v, ok := strings.CutPrefix(tok, "load:"); ok {
		src, dst, ok := strings.Cut(v, "->")
		if !ok {
			return nil, fmt.Errorf("want load:SRC->DST")
		}
		d, err := parseSubfield(dst)
		if err != nil {
			return nil, err
		}
		return learnSource(learnSpec{kind: learnDstLoad, dst: d}, src)
	}
	if v, ok := strings.CutPrefix(tok, "output:"); ok {
		s, err := parseSubfield(v)
		if err != nil {
			return nil, err
		}
		return &learnSpec{kind: learnDstOutput, src: s}, nil
	}
	name, val, hasVal := strings.Cut(tok, "=")
	if strings.Contains(name, "[") {
		d, err := parseSubfield(name)
		if err != nil {
			return nil, err
		}
		if !hasVal {
			return &learnSpec{src: d, dst: d}, nil // match the field on its own value
		}
		return learnSource(learnSpec{dst: d}, val)
	}
	bits := map[string]int{"idle_timeout": 16, "hard_timeout": 16, "priority": 16, "cookie": 64, "table": 8, "fin_idle_timeout": 16, "fin_hard_timeout": 16}[name]
	if bits == 0 || !hasVal {
		return nil, fmt.Errorf("unsupported learn argument")
	}
	n, err := parseUint(val, bits)
	if err != nil {
		return nil, err
	}
	switch name {
	case "idle_timeout":
		l.idle = uint16(n)
	case "hard_timeout":
		l.hard = uint16(n)
	case "priority":
		l.priority = uint16(n)
	case "cookie":
		l.cookie = n
	case "table":
		if n == 0xff {
			return nil, fmt.Errorf("bad table")
		}
		l.table = uint8(n)
	case "fin_idle_timeout":
		l.finIdle = uint16(n)
	case "fin_hard_timeout":
		l.finHard = uint16(n)
	}
	return nil, nil
}

// learnSource sets the spec's source: a subfield of the same width as its
// destination, or an immediate number.
func learnSource(s learnSpec, src string) (*learnSpec, error) {
	if strings.Contains(src, "[") {
		sf, err := parseSubfield(src)
		if err != nil {
			return nil, err
		}
		if sf.bits != s.dst.bits {
			return nil, fmt.Errorf("source and destination differ in width (%d, %d bits)", sf.bits, s.dst.bits)
		}
		s.src = sf
		return &s, nil
	}
	if s.dst.bits > 64 {
		return nil, fmt.Errorf("immediate values wider than 64 bits are not supported")
	}
	v, err := parseUint(src, s.dst.bits)
	if err != nil {
		return nil, err
	}
	s.imm = &v
	return &s, nil
}

func (a learn) append(b []byte) []byte {
	start := len(b)
	b = nxHeader(b, 0, nxastLearn)
	b = binary.BigEndian.AppendUint16(b, a.idle)
	b = binary.BigEndian.AppendUint16(b, a.hard)
	b = binary.BigEndian.AppendUint16(b, a.priority)
	b = binary.BigEndian.AppendUint64(b, a.cookie)
	b = binary.BigEndian.AppendUint16(b, 0) // flags
	b = append(b, a.table, 0)
	b = binary.BigEndian.AppendUint16(b, a.finIdle)
	b = binary.BigEndian.AppendUint16(b, a.finHard)
	for _, s := range a.specs {
		bits := s.dst.bits
		if s.kind == learnDstOutput {
			bits = s.src.bits
		}
		header := uint16(bits) | s.kind
		if s.imm != nil {
			header |= learnSrcImmediate
		}
		b = binary.BigEndian.AppendUint16(b, header)
		if s.imm != nil {
			// 2 * ceil(bits / 16) bytes, the value right-aligned.
			n := 2 * ((bits + 15) / 16)
			b = append(b, uintBytes(*s.imm, min(n, 8))...)
		} else {
			b = binary.BigEndian.AppendUint32(b, s.src.f.header(false))
			b = binary.BigEndian.AppendUint16(b, uint16(s.src.ofs))
		}
		if s.kind != learnDstOutput {
			b = binary.BigEndian.AppendUint32(b, s.dst.f.header(false))
			b = binary.BigEndian.AppendUint16(b, uint16(s.dst.ofs))
		}
	}
	b = pad8(b, start)
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	return b
}
