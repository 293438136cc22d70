package nftfw_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"neutrino/internal/dataplane/nftfw"
	"neutrino/internal/lab"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test builds network namespaces and needs root: run `make test` (as root)")
	}
}

// scratchNS makes a namespace for the test and deletes it at the end.
func scratchNS(t *testing.T) string {
	t.Helper()
	needRoot(t)
	ns := "nt-" + lab.RandomID() + "-nft"
	if err := lab.CreateNS(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.DeleteNS(ns); err != nil {
			t.Errorf("delete %s: %v", ns, err)
		}
	})
	return ns
}

var counters = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// nftChains is `nft list ruleset` without sets, counters zeroed, one
// chain per entry.
func nftChains(t *testing.T, ns string) map[string]string {
	t.Helper()
	out, err := lab.Exec(context.Background(), ns, "nft", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	return chainsOf(counters.ReplaceAllString(string(out), "counter packets 0 bytes 0"))
}

// chainsOf cuts a ruleset text into its chains, keyed "family name".
func chainsOf(text string) map[string]string {
	m := map[string]string{}
	fam, cur := "", ""
	var body []string
	for _, l := range strings.Split(text, "\n") {
		s := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "table "):
			fam = strings.Fields(l)[1]
		case strings.HasPrefix(s, "chain "):
			cur, body = fam+" "+strings.Fields(s)[1], nil
		case cur != "" && s == "}":
			m[cur] = strings.Join(body, "\n")
			cur = ""
		case cur != "" && s != "":
			body = append(body, s)
		}
	}
	return m
}

func TestKernelPrintsPlan(t *testing.T) {
	ns := scratchNS(t)
	in := richInput()
	a := nftfw.NewApplier(ns, nil)
	res, err := a.Apply(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := nftfw.Plan(in, nftfw.Ruleset{})
	got := nftChains(t, ns)
	exp := chainsOf(want.Render())
	for k, v := range exp {
		if got[k] != v {
			t.Errorf("chain %s: nft prints\n%s\nwant\n%s", k, got[k], v)
		}
	}
	if len(got) != len(exp) {
		t.Errorf("nft has %d chains, want %d", len(got), len(exp))
	}
	if res.Cost == 0 {
		t.Error("the first Apply reports no cost")
	}
	// What the kernel holds reads back as the plan: sets element by
	// element, chains by checksum.
	back, err := a.Read()
	if err != nil {
		t.Fatal(err)
	}
	if ops := nftfw.Diff(back, want); len(ops) != 0 {
		t.Errorf("read back after Apply still differs:\n%s", opsText(ops))
	}
	for _, wt := range want.Tables {
		for _, ws := range wt.Sets {
			bs := back.Table(wt.Family).Set(ws.Name)
			if bs == nil || elemsText(bs) != elemsText(ws) {
				t.Errorf("set %s reads back as %v, want %v", ws.Name, bs, elemsText(ws))
			}
		}
	}
	// A restarted agent (a new Applier) adopts everything: no operation.
	again, err := nftfw.NewApplier(ns, nil).Apply(context.Background(), in)
	if err != nil || len(again.Ops) != 0 {
		t.Errorf("a new Applier with the same input: %v\n%s", err, opsText(again.Ops))
	}
}

func opsText(ops []nftfw.Op) string {
	var s []string
	for _, o := range ops {
		s = append(s, o.String())
	}
	return strings.Join(s, "\n")
}

func elemsText(s *nftfw.Set) string {
	var out []string
	for _, e := range s.Elems {
		out = append(out, e.Text())
	}
	return strings.Join(out, ", ")
}

// TestKernelFollowsChanges runs every change of TestDiffCosts against the
// kernel, there and back: each transaction is accepted, and what the
// kernel then holds reads back as the plan.
func TestKernelFollowsChanges(t *testing.T) {
	ns := scratchNS(t)
	ctx := context.Background()
	a := nftfw.NewApplier(ns, nil)
	base := richInput()
	check := func(what string, in nftfw.Input) {
		t.Helper()
		if _, err := a.Apply(ctx, in); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		back, err := a.Read()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := nftfw.Plan(in, back)
		if ops := nftfw.Diff(back, want); len(ops) != 0 {
			t.Errorf("%s: the kernel differs from the plan:\n%s", what, opsText(ops))
		}
	}
	check("base", base)
	for _, c := range changes() {
		check(c.name, changed(base, c))
		check("back from "+c.name, base)
	}
	check("nothing", nftfw.Input{})
	if out, err := lab.Exec(ctx, ns, "nft", "list", "ruleset"); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("after the last change the namespace still has: %s %v", out, err)
	}
}

// TestKernelRuleChangeAfterRestart: a restarted agent (a new Applier that
// reads the kernel back) finds which rules chain each port goes to, so a
// rule change still rewrites one chain and nothing else.
func TestKernelRuleChangeAfterRestart(t *testing.T) {
	ns := scratchNS(t)
	ctx := context.Background()
	base := groupNode(20, 5)
	if _, err := nftfw.NewApplier(ns, nil).Apply(ctx, base); err != nil {
		t.Fatal(err)
	}
	res, err := nftfw.NewApplier(ns, nil).Apply(ctx, addRule(base))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Ops) != 1 || res.Ops[0].Kind != nftfw.OpSetRules || !strings.HasPrefix(res.Ops[0].Chain.Name, "rules-ingress-") {
		t.Errorf("a rule added to the group of 20 ports after a restart:\n%s", opsText(res.Ops))
	}
}
