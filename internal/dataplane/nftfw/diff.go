package nftfw

import (
	"fmt"
	"slices"
	"strings"
)

// OpKind is what one operation does.
type OpKind int

// Operation kinds, in the order a transaction runs them: what is referenced
// is made before what references it and removed after it.
const (
	OpAddTable OpKind = iota
	OpAddSet
	OpAddChain // an empty chain (its rules follow in OpSetRules)
	OpSetRules // flush the chain (when it existed) and add its rules
	OpDelElems // set or map elements (before adds: a map key changing its value is deleted, then added)
	OpAddElems //
	OpDelChain //
	OpDelSet   //
	OpDelTable // a table we no longer need, with everything in it
)

// Op is one step of an update.
type Op struct {
	Kind   OpKind
	Family Family
	Chain  *Chain // OpAddChain, OpSetRules, OpDelChain
	Flush  bool   // OpSetRules: the chain had rules
	Set    *Set   // OpAddSet, OpAddElems, OpDelElems, OpDelSet
	Elems  []Elem // OpAddElems, OpDelElems
}

// Cost is how many kernel objects the op writes: rules added, elements
// added or deleted, or one for any other object.
func (o Op) Cost() int {
	switch o.Kind {
	case OpSetRules:
		return len(o.Chain.Rules)
	case OpAddElems, OpDelElems:
		return len(o.Elems)
	}
	return 1
}

// String renders the op as nft commands.
func (o Op) String() string {
	t := fmt.Sprintf("%s %s", o.Family, TableName)
	elems := func() string {
		var s []string
		for _, e := range o.Elems {
			s = append(s, e.Text())
		}
		return "{ " + strings.Join(s, ", ") + " }"
	}
	switch o.Kind {
	case OpAddTable:
		return "add table " + t
	case OpAddSet:
		kw := "set"
		if o.Set.Kind.isMap() {
			kw = "map"
		}
		return fmt.Sprintf("add %s %s %s", kw, t, o.Set.Name)
	case OpAddChain:
		if h := o.Chain.header(); h != "" {
			return fmt.Sprintf("add chain %s %s { %s }", t, o.Chain.Name, h)
		}
		return fmt.Sprintf("add chain %s %s", t, o.Chain.Name)
	case OpSetRules:
		var b strings.Builder
		if o.Flush {
			fmt.Fprintf(&b, "flush chain %s %s\n", t, o.Chain.Name)
		}
		for i, r := range o.Chain.Rules {
			fmt.Fprintf(&b, "add rule %s %s %s", t, o.Chain.Name, r.Text)
			if i == len(o.Chain.Rules)-1 {
				fmt.Fprintf(&b, " comment %q", o.Chain.comment())
			} else {
				b.WriteString("\n")
			}
		}
		return b.String()
	case OpAddElems:
		return fmt.Sprintf("add element %s %s %s", t, o.Set.Name, elems())
	case OpDelElems:
		return fmt.Sprintf("delete element %s %s %s", t, o.Set.Name, elems())
	case OpDelChain:
		return fmt.Sprintf("delete chain %s %s", t, o.Chain.Name)
	case OpDelSet:
		return fmt.Sprintf("delete set %s %s", t, o.Set.Name)
	case OpDelTable:
		return "delete table " + t
	}
	return "?"
}

// Diff returns the operations that turn cur into want, ordered by kind (one
// transaction runs them in this order). Chains are compared by checksum,
// sets element by element, so a change costs what changed.
func Diff(cur, want Ruleset) []Op {
	var ops []Op
	for _, ct := range cur.Tables {
		if want.Table(ct.Family) == nil {
			ops = append(ops, Op{Kind: OpDelTable, Family: ct.Family})
		}
	}
	for _, wt := range want.Tables {
		f := wt.Family
		ct := cur.Table(f)
		if ct == nil {
			ct = &Table{Family: f}
			ops = append(ops, Op{Kind: OpAddTable, Family: f})
		}
		for _, ws := range wt.Sets {
			cs := ct.Set(ws.Name)
			if cs == nil {
				ops = append(ops, Op{Kind: OpAddSet, Family: f, Set: ws})
				cs = &Set{Name: ws.Name, Kind: ws.Kind}
			}
			add, del := elemDiff(cs.Elems, ws.Elems)
			if len(add) > 0 {
				ops = append(ops, Op{Kind: OpAddElems, Family: f, Set: ws, Elems: add})
			}
			if len(del) > 0 {
				ops = append(ops, Op{Kind: OpDelElems, Family: f, Set: ws, Elems: del})
			}
		}
		for _, cs := range ct.Sets {
			if wt.Set(cs.Name) == nil {
				// A map's elements go first: they hold the chains they jump to.
				if cs.Kind.isMap() && len(cs.Elems) > 0 {
					ops = append(ops, Op{Kind: OpDelElems, Family: f, Set: cs, Elems: cs.Elems})
				}
				ops = append(ops, Op{Kind: OpDelSet, Family: f, Set: cs})
			}
		}
		for _, wc := range wt.Chains {
			cc := ct.Chain(wc.Name)
			if cc == nil {
				ops = append(ops, Op{Kind: OpAddChain, Family: f, Chain: wc}, Op{Kind: OpSetRules, Family: f, Chain: wc})
			} else if cc.Sum != wc.Sum || cc.Hook != wc.Hook || cc.Priority != wc.Priority {
				if cc.Hook != wc.Hook || cc.Priority != wc.Priority {
					// A chain's hook cannot change: delete and re-create.
					// Only a base chain of an older layout gets here.
					ops = append(ops, Op{Kind: OpDelChain, Family: f, Chain: cc}, Op{Kind: OpAddChain, Family: f, Chain: wc},
						Op{Kind: OpSetRules, Family: f, Chain: wc})
					continue
				}
				ops = append(ops, Op{Kind: OpSetRules, Family: f, Chain: wc, Flush: true})
			}
		}
		for _, cc := range ct.Chains {
			if wt.Chain(cc.Name) == nil {
				ops = append(ops, Op{Kind: OpDelChain, Family: f, Chain: cc})
			}
		}
	}
	sortOps(ops)
	return ops
}

// sortOps orders ops by kind, keeping the order within a kind; a table
// deleted is deleted first (it holds nothing we keep).
func sortOps(ops []Op) {
	rank := func(o Op) int {
		if o.Kind == OpDelTable {
			return -1
		}
		return int(o.Kind)
	}
	slices.SortStableFunc(ops, func(a, b Op) int { return rank(a) - rank(b) })
}

func elemDiff(cur, want []Elem) (add, del []Elem) {
	have := map[string]bool{}
	for _, e := range cur {
		have[e.Text()] = true
	}
	need := map[string]bool{}
	for _, e := range want {
		need[e.Text()] = true
		if !have[e.Text()] {
			add = append(add, e)
		}
	}
	for _, e := range cur {
		if !need[e.Text()] {
			del = append(del, e)
		}
	}
	return add, del
}

// Cost sums the ops' costs.
func Cost(ops []Op) int {
	n := 0
	for _, o := range ops {
		n += o.Cost()
	}
	return n
}
