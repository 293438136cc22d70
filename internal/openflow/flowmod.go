package openflow

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Flow mod commands (OpenFlow 1.1+).
const (
	CommandAdd          = 0
	CommandDelete       = 3
	CommandDeleteStrict = 4
)

const (
	// TableAll selects every table (delete without table=).
	TableAll        = 0xff
	defaultPriority = 0x8000
	noBuffer        = 0xffffffff
	anyPort         = 0xffffffff
	anyGroup        = 0xffffffff
)

// FlowMod is one typed flow modification.
type FlowMod struct {
	Command                  uint8
	Table                    uint8
	Priority                 uint16
	Cookie, CookieMask       uint64
	IdleTimeout, HardTimeout uint16
	Match                    Match
	Instructions             Instructions
	// Text is the line the flow mod was parsed from; errors name it.
	Text string
}

// ParseFlowMod reads one line of `ovs-ofctl add-flows` input in the
// subset the data plane writes:
//
//	[add ]cookie=C,table=T,priority=P,MATCH actions=ACTIONS
//	delete_strict cookie=C/-1,table=T,priority=P,MATCH
//	delete cookie=C/-1
//
// Any token outside the subset is an error.
func ParseFlowMod(line string) (*FlowMod, error) {
	fm := &FlowMod{Text: line, Command: CommandAdd, Priority: defaultPriority, Instructions: Instructions{gotoTable: -1}}
	rest := strings.TrimSpace(line)
	if cmd, r, ok := strings.Cut(rest, " "); ok {
		switch cmd {
		case "add":
			rest = r
		case "delete":
			fm.Command, fm.Table, rest = CommandDelete, TableAll, r
		case "delete_strict":
			fm.Command, fm.Table, rest = CommandDeleteStrict, TableAll, r
		}
	}
	rest = strings.TrimSpace(rest)
	actions, hasActions := "", false
	if i := strings.Index(rest, "actions="); i >= 0 && (i == 0 || rest[i-1] == ' ' || rest[i-1] == ',') {
		actions, hasActions = rest[i+len("actions="):], true
		rest = strings.TrimRight(rest[:i], " ,")
	}
	if hasActions != (fm.Command == CommandAdd) {
		if hasActions {
			return nil, fmt.Errorf("flow %q: a delete takes no actions", line)
		}
		return nil, fmt.Errorf("flow %q: no actions", line)
	}
	var matchToks []string
	if rest != "" {
		for tok := range strings.SplitSeq(rest, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" || strings.ContainsAny(tok, " \t") {
				return nil, fmt.Errorf("flow %q: bad token %q", line, tok)
			}
			name, val, _ := strings.Cut(tok, "=")
			var err error
			switch name {
			case "cookie":
				err = fm.parseCookie(val)
			case "table":
				var n uint64
				if n, err = parseUint(val, 8); err == nil && n == TableAll {
					err = fmt.Errorf("table 255 is not a table")
				}
				fm.Table = uint8(n)
			case "priority":
				var n uint64
				n, err = parseUint(val, 16)
				fm.Priority = uint16(n)
			case "idle_timeout":
				var n uint64
				n, err = parseUint(val, 16)
				fm.IdleTimeout = uint16(n)
			case "hard_timeout":
				var n uint64
				n, err = parseUint(val, 16)
				fm.HardTimeout = uint16(n)
			default:
				matchToks = append(matchToks, tok)
			}
			if err != nil {
				return nil, fmt.Errorf("flow %q: %s: %w", line, tok, err)
			}
		}
	}
	var err error
	if fm.Match, err = parseMatch(matchToks); err != nil {
		return nil, fmt.Errorf("flow %q: %w", line, err)
	}
	if hasActions {
		if fm.Instructions, err = parseInstructions(strings.TrimSpace(actions)); err != nil {
			return nil, fmt.Errorf("flow %q: %w", line, err)
		}
	}
	return fm, nil
}

// parseCookie reads cookie=V (add) or cookie=V/MASK (deletes; -1 is the
// full mask).
func (fm *FlowMod) parseCookie(s string) error {
	v, m, masked := strings.Cut(s, "/")
	c, err := parseUint(v, 64)
	if err != nil {
		return err
	}
	fm.Cookie = c
	if !masked {
		return nil
	}
	if fm.Command == CommandAdd {
		return fmt.Errorf("an add takes no cookie mask")
	}
	if m == "-1" {
		fm.CookieMask = ^uint64(0)
		return nil
	}
	fm.CookieMask, err = parseUint(m, 64)
	return err
}

// append encodes the flow mod as an OpenFlow 1.4 OFPT_FLOW_MOD.
func (fm *FlowMod) append(b []byte, xid uint32) ([]byte, error) {
	start := len(b)
	b = appendHeader(b, typeFlowMod, 0, xid)
	b = binary.BigEndian.AppendUint64(b, fm.Cookie)
	b = binary.BigEndian.AppendUint64(b, fm.CookieMask)
	b = append(b, fm.Table, fm.Command)
	b = binary.BigEndian.AppendUint16(b, fm.IdleTimeout)
	b = binary.BigEndian.AppendUint16(b, fm.HardTimeout)
	b = binary.BigEndian.AppendUint16(b, fm.Priority)
	b = binary.BigEndian.AppendUint32(b, noBuffer)
	b = binary.BigEndian.AppendUint32(b, anyPort)
	b = binary.BigEndian.AppendUint32(b, anyGroup)
	b = append(b, 0, 0, 0, 0) // flags, importance
	b = fm.Match.append(b)
	if fm.Command == CommandAdd {
		b = fm.Instructions.append(b)
	}
	if err := setLength(b, start); err != nil {
		return nil, fmt.Errorf("flow %q: %w", fm.Text, err)
	}
	return b, nil
}

// Marshal encodes the flow mod as one OpenFlow 1.4 message with xid.
func (fm *FlowMod) Marshal(xid uint32) ([]byte, error) { return fm.append(nil, xid) }
