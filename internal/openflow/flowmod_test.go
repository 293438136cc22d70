package openflow

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A hand-assembled flow mod: header, the fixed part, an OXM match on
// in_port, one goto_table instruction.
func TestMarshalGolden(t *testing.T) {
	fm, err := ParseFlowMod("add cookie=0x1,table=0,priority=1,in_port=1 actions=goto_table:2")
	if err != nil {
		t.Fatal(err)
	}
	got, err := fm.Marshal(1)
	if err != nil {
		t.Fatal(err)
	}
	want := "050e0048" + "00000001" + // header: OF1.4 FLOW_MOD, 72 bytes, xid 1
		"0000000000000001" + "0000000000000000" + // cookie, cookie mask
		"00" + "00" + "0000" + "0000" + "0001" + // table, ADD, idle, hard, priority
		"ffffffff" + "ffffffff" + "ffffffff" + "0000" + "0000" + // buffer, out_port, out_group, flags, importance
		"0001000c" + "80000004" + "00000001" + "00000000" + // OXM match: in_port=1, padded
		"00010008" + "02000000" // goto_table:2
	if hex.EncodeToString(got) != want {
		t.Errorf("got  %x\nwant %s", got, want)
	}
}

// Every token outside the subset is an error, never dropped.
func TestParseFlowModRejects(t *testing.T) {
	for _, line := range []string{
		"add table=0,priority=1,nw_tos=4 actions=drop",                // unsupported field
		"add table=0,priority=1 actions=mod_dl_src:fa:16:3e:00:00:01", // unsupported action
		"add table=0,priority=1 actions=output:1,goto_table:2,drop",   // goto_table not last
		"add table=0,priority=1 actions=drop,output:1",                // drop with others
		"add table=0,priority=1 actions=ct(commit,nat)",               // ct argument
		"add table=0,priority=1 actions=learn(table=20,delete_learned)",
		"add table=0,priority=1 actions=learn(table=20,NXM_NX_REG0[0..3]=NXM_NX_REG1[])", // width mismatch
		"add table=0,priority=1 actions=output:NXM_NX_REG99[]",
		"add table=0,priority=1 actions=move:NXM_NX_REG0[0..3]->NXM_NX_REG1[]",
		"add table=0,priority=1 actions=load:0x10->NXM_NX_REG0[0..3]", // value wider than the field
		"add table=0,priority=1 actions=set_field:1->ip_dscp",
		"add table=0,priority=1 actions=conjunction(1,3/2)",
		"add table=0,priority=1 actions=resubmit(,255)",
		"add table=0,priority=1 actions=output:010",     // leading zero
		"add table=0,priority=1,tp_dst=80 actions=drop", // no protocol for the port
		"add table=0,priority=1,icmp,icmp_type=1_0 actions=drop",
		"add table=0,priority=1,ip,ip actions=drop", // duplicate field
		"add table=0,priority=1,dl_vlan=4096 actions=drop",
		"add table=0,priority=1,nw_src=10.0.0.0/33 actions=drop",
		"add table=0,priority=1,ct_state=+est+est actions=drop",
		"add table=0,priority=1,ct_state=+bogus actions=drop",
		"add table=0,priority=1,vlan_vid=5 actions=drop",
		"add cookie=0x1/-1,table=0,priority=1 actions=drop", // mask on an add
		"add table=0,priority=1",                            // no actions
		"delete_strict table=0,priority=1 actions=drop",     // actions on a delete
		"add table=256,priority=1 actions=drop",
		"modify table=0,priority=1 actions=drop",
		"add table=0,priority=1 actions=output:1,,output:2",
		"add table=0,priority=1 actions=ct(commit",
	} {
		if fm, err := ParseFlowMod(line); err == nil {
			t.Errorf("ParseFlowMod(%q) accepted it: %+v", line, fm)
		}
	}
}

// TestEncodingAsOvsOfctlReadsIt encodes every line of testdata/flows.txt
// and has ovs-ofctl decode our bytes (ofp-parse) and parse the same text
// itself (parse-flows): both printouts must be identical, i.e. our bytes
// mean exactly what ovs-ofctl understands from the text. No switch is
// needed, only the ovs-ofctl binary.
func TestEncodingAsOvsOfctlReadsIt(t *testing.T) {
	ofctl, err := exec.LookPath("ovs-ofctl")
	if err != nil {
		t.Fatal("ovs-ofctl not found (install openvswitch-switch): it is the reference this test compares with")
	}
	raw, err := os.ReadFile("testdata/flows.txt")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range strings.SplitSeq(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	want, got := ofctlReading(t, ofctl, lines)
	for i := range lines {
		if got[i] != want[i] {
			t.Errorf("flow %q\n ours decoded by ovs-ofctl: %s\n ovs-ofctl's own parse:    %s", lines[i], got[i], want[i])
		}
	}
}

// ofctlReading returns, per add line, ovs-ofctl's rendering of its own
// parse of the text and of our encoding of it.
func ofctlReading(t *testing.T, ofctl string, lines []string) (want, got []string) {
	t.Helper()
	dir := t.TempDir()
	var text strings.Builder
	var bin []byte
	for i, l := range lines {
		fm, err := ParseFlowMod(l)
		if err != nil {
			t.Fatalf("parse %q: %v", l, err)
		}
		if fm.Command != CommandAdd {
			t.Fatalf("%q: only adds can be compared with parse-flows", l)
		}
		b, err := fm.Marshal(uint32(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		bin = append(bin, b...)
		text.WriteString(strings.TrimPrefix(l, "add ") + "\n")
	}
	tf, bf := filepath.Join(dir, "flows.txt"), filepath.Join(dir, "flows.bin")
	if err := os.WriteFile(tf, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bf, bin, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ofctl, "-O", "OpenFlow14", "parse-flows", tf).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-ofctl parse-flows: %v: %s", err, out)
	}
	want = flowModLines(string(out))
	out, err = exec.Command(ofctl, "ofp-parse", bf).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-ofctl ofp-parse: %v: %s", err, out)
	}
	got = flowModLines(string(out))
	if len(want) != len(lines) || len(got) != len(lines) {
		t.Fatalf("%d lines: ovs-ofctl printed %d of its own and %d of ours:\n%s", len(lines), len(want), len(got), out)
	}
	return want, got
}

func flowModLines(out string) []string {
	var fl []string
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(l, "OFPT_FLOW_MOD") {
			fl = append(fl, l)
		}
	}
	return fl
}

// checkFlowModLayout walks an encoded flow mod: the match, instructions
// and actions must tile the message exactly, each with a valid length.
func checkFlowModLayout(t *testing.T, b []byte) {
	t.Helper()
	if len(b) < 56 || b[1] != typeFlowMod || int(binary.BigEndian.Uint16(b[2:])) != len(b) {
		t.Fatalf("flow mod header wrong: % x", b[:min(len(b), 8)])
	}
	ml := int(binary.BigEndian.Uint16(b[50:]))
	if binary.BigEndian.Uint16(b[48:]) != 1 || ml < 4 || 48+(ml+7)/8*8 > len(b) {
		t.Fatalf("match type %d length %d in %d bytes", binary.BigEndian.Uint16(b[48:]), ml, len(b))
	}
	for oxm := b[52 : 48+ml]; len(oxm) > 0; {
		if len(oxm) < 4 || 4+int(oxm[3]) > len(oxm) {
			t.Fatalf("OXM entry overruns the match: % x", oxm)
		}
		oxm = oxm[4+int(oxm[3]):]
	}
	rest := b[48+(ml+7)/8*8:]
	for len(rest) > 0 {
		if len(rest) < 8 {
			t.Fatalf("instruction tail of %d bytes", len(rest))
		}
		typ, n := binary.BigEndian.Uint16(rest), int(binary.BigEndian.Uint16(rest[2:]))
		if n < 8 || n%8 != 0 || n > len(rest) {
			t.Fatalf("instruction %d of length %d in %d bytes", typ, n, len(rest))
		}
		if typ == ofpitApplyActions {
			for acts := rest[8:n]; len(acts) > 0; {
				if len(acts) < 8 {
					t.Fatalf("action tail of %d bytes", len(acts))
				}
				an := int(binary.BigEndian.Uint16(acts[2:]))
				if an < 8 || an%8 != 0 || an > len(acts) {
					t.Fatalf("action of length %d in %d bytes", an, len(acts))
				}
				acts = acts[an:]
			}
		}
		rest = rest[n:]
	}
}

func FuzzParseFlowMod(f *testing.F) {
	raw, err := os.ReadFile("testdata/flows.txt")
	if err != nil {
		f.Fatal(err)
	}
	for l := range strings.SplitSeq(string(raw), "\n") {
		f.Add(l)
	}
	for _, l := range testFlows {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		fm, err := ParseFlowMod(line)
		if err != nil {
			return
		}
		b, err := fm.Marshal(7)
		if err != nil {
			return // longer than one message
		}
		checkFlowModLayout(t, b)
		again, err := ParseFlowMod(line)
		if err != nil {
			t.Fatalf("second parse of %q failed: %v", line, err)
		}
		if b2, _ := again.Marshal(7); !bytes.Equal(b, b2) {
			t.Fatalf("%q encodes differently twice", line)
		}
	})
}
