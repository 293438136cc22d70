package nftfw

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Applier keeps the firewall of one network namespace converged. It holds
// a record of what it last wrote; the first Apply, and the first after
// Resync or a failed transaction, reads the kernel back instead.
type Applier struct {
	netns string
	log   *slog.Logger

	mu  sync.Mutex
	rec *Ruleset
}

// NewApplier manages the firewall in the named namespace ("" = the
// caller's). It changes nothing until Apply.
func NewApplier(netnsName string, log *slog.Logger) *Applier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Applier{netns: netnsName, log: log.With("firewall", "nftables")}
}

// Result says what one Apply changed.
type Result struct {
	Ops  []Op
	Cost int // rules written plus elements changed (Op.Cost)
}

// Resync makes the next Apply read the kernel back.
func (a *Applier) Resync() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rec = nil
}

// Apply converges the kernel to in with one transaction holding only the
// difference. A failed transaction changes nothing (nf_tables batches are
// atomic).
func (a *Applier) Apply(ctx context.Context, in Input) (Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	var res Result
	err := a.withConn(func(c *nftables.Conn) error {
		if a.rec == nil {
			cur, err := read(c)
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			a.rec = &cur
		}
		want, err := Plan(in, *a.rec)
		if err != nil {
			return err
		}
		ops := Diff(*a.rec, want)
		if len(ops) == 0 {
			return nil
		}
		if err := run(c, ops); err != nil {
			a.rec = nil
			return err
		}
		a.rec = &want
		res = Result{Ops: ops, Cost: Cost(ops)}
		a.log.Info("firewall updated", "ops", len(ops), "cost", res.Cost)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("nftables firewall: %w", err)
	}
	return res, nil
}

// Read returns what the kernel holds of our tables (chains by checksum).
func (a *Applier) Read() (Ruleset, error) {
	var r Ruleset
	err := a.withConn(func(c *nftables.Conn) (err error) {
		r, err = read(c)
		return err
	})
	return r, err
}

func (a *Applier) withConn(fn func(*nftables.Conn) error) error {
	opts := []nftables.ConnOption{nftables.WithSockOptions(bigBuffers)}
	if a.netns != "" {
		fd, err := netns.GetFromName(a.netns)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", a.netns, err)
		}
		defer fd.Close()
		opts = append(opts, nftables.WithNetNSFd(int(fd)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	return fn(c)
}

// elemsPerMsg keeps an element list under 64 KiB: a verdict map element
// (16-byte name, jump to a chain of up to ~30 characters) is under 100
// bytes, an interval is two elements of ~40.
const elemsPerMsg = 256

// batchBuffer is the socket buffer size for our transactions. A batch
// goes to the kernel in one sendmsg (a first Apply with a thousand ports
// is megabytes); like nft itself, we force the buffers past the sysctl
// limits (we run as root) rather than split a transaction.
const batchBuffer = 64 << 20

func bigBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = errors.Join(
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, batchBuffer),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, batchBuffer))
	})
	return errors.Join(err, serr)
}

func libFamily(f Family) nftables.TableFamily {
	if f == Bridge {
		return nftables.TableFamilyBridge
	}
	return nftables.TableFamilyINet
}

var hooks = map[string]nftables.ChainHook{"prerouting": 0, "input": 1, "forward": 2}

func libSet(t *nftables.Table, s *Set) *nftables.Set {
	ls := &nftables.Set{Table: t, Name: s.Name, IsMap: s.Kind.isMap(), Interval: s.Kind.interval()}
	if s.Kind.isMap() {
		// ifname and mark are host byte order; nft prints them right
		// only when the set says so.
		ls.KeyByteOrder = binaryutil.NativeEndian
	}
	switch s.Kind {
	case IfnameVerdict:
		ls.KeyType, ls.DataType = nftables.TypeIFName, nftables.TypeVerdict
	case MarkVerdict:
		ls.KeyType, ls.DataType = nftables.TypeMark, nftables.TypeVerdict
	case IPv4Interval, IPv4Addr:
		ls.KeyType = nftables.TypeIPAddr
	default:
		ls.KeyType = nftables.TypeIP6Addr
	}
	return ls
}

func libElems(s *Set, es []Elem) []nftables.SetElement {
	var out []nftables.SetElement
	for _, e := range es {
		le := nftables.SetElement{Key: e.Key}
		if e.Verdict != "" {
			le.VerdictData = &expr.Verdict{Kind: expr.VerdictJump, Chain: e.Verdict}
		}
		out = append(out, le)
		if s.Kind.interval() && e.KeyEnd != nil {
			out = append(out, nftables.SetElement{Key: e.KeyEnd, IntervalEnd: true})
		}
	}
	return out
}

// run queues ops on c and commits them as one batch.
func run(c *nftables.Conn, ops []Op) error {
	tables := map[Family]*nftables.Table{}
	tbl := func(f Family) *nftables.Table {
		if t, ok := tables[f]; !ok {
			tables[f] = &nftables.Table{Family: libFamily(f), Name: TableName}
		} else {
			return t
		}
		return tables[f]
	}
	var errs []error
	for _, o := range ops {
		t := tbl(o.Family)
		var ch *nftables.Chain
		if o.Chain != nil {
			ch = &nftables.Chain{Name: o.Chain.Name, Table: t}
		}
		switch o.Kind {
		case OpAddTable:
			c.AddTable(t)
		case OpDelTable:
			c.DelTable(t)
		case OpAddSet:
			errs = append(errs, c.AddSet(libSet(t, o.Set), nil))
		case OpDelSet:
			c.DelSet(libSet(t, o.Set))
		case OpAddChain:
			if o.Chain.Hook != "" {
				h, p, pol := hooks[o.Chain.Hook], nftables.ChainPriority(o.Chain.Priority), nftables.ChainPolicyAccept
				ch.Hooknum, ch.Priority, ch.Type, ch.Policy = &h, &p, nftables.ChainTypeFilter, &pol
			}
			c.AddChain(ch)
		case OpSetRules:
			if o.Flush {
				c.FlushChain(ch)
			}
			for i, r := range o.Chain.Rules {
				lr := &nftables.Rule{Table: t, Chain: ch, Exprs: r.Exprs}
				if i == len(o.Chain.Rules)-1 {
					lr.UserData = userdata.AppendString(nil, userdata.TypeComment, o.Chain.comment())
				}
				c.AddRule(lr)
			}
		case OpAddElems, OpDelElems:
			// One message per elemsPerMsg elements: a netlink attribute
			// holds at most 64 KiB, and a longer element list wraps its
			// length (the kernel then fails the batch with ENOENT).
			ls := libSet(t, o.Set)
			for es := range slices.Chunk(o.Elems, elemsPerMsg) {
				if o.Kind == OpAddElems {
					errs = append(errs, c.SetAddElements(ls, libElems(o.Set, es)))
				} else {
					errs = append(errs, c.SetDeleteElements(ls, libElems(o.Set, es)))
				}
			}
		case OpDelChain:
			c.DelChain(ch)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("commit %d ops: %w", len(ops), err)
	}
	return nil
}

// read returns our tables as the kernel holds them.
func read(c *nftables.Conn) (Ruleset, error) {
	var r Ruleset
	for _, f := range []Family{Bridge, Inet} {
		lt, err := c.ListTableOfFamily(TableName, libFamily(f))
		if errors.Is(err, unix.ENOENT) || (err != nil && strings.Contains(err.Error(), "no such file")) {
			continue
		}
		if err != nil {
			return r, fmt.Errorf("table %s: %w", f, err)
		}
		t := &Table{Family: f}
		sets, err := c.GetSets(lt)
		if err != nil {
			return r, fmt.Errorf("sets of %s: %w", f, err)
		}
		for _, ls := range sets {
			s, err := readSet(c, ls)
			if err != nil {
				return r, err
			}
			t.Sets = append(t.Sets, s)
		}
		chains, err := c.ListChainsOfTableFamily(libFamily(f))
		if err != nil {
			return r, fmt.Errorf("chains of %s: %w", f, err)
		}
		for _, lc := range chains {
			if lc.Table.Name != TableName {
				continue
			}
			ch := &Chain{Name: lc.Name}
			if lc.Hooknum != nil {
				for n, h := range hooks {
					if h == *lc.Hooknum {
						ch.Hook = n
					}
				}
				if lc.Priority != nil {
					ch.Priority = int(*lc.Priority)
				}
			}
			rules, err := c.GetRules(lt, lc)
			if err != nil {
				return r, fmt.Errorf("rules of %s %s: %w", f, lc.Name, err)
			}
			if f == Inet && ch.Name == "prerouting" {
				t.Zones = readZones(rules)
			}
			for _, r := range rules {
				for _, e := range r.Exprs {
					if v, ok := e.(*expr.Verdict); ok && v.Kind == expr.VerdictGoto {
						ch.target = v.Chain
					}
				}
			}
			if n := len(rules); n > 0 {
				if s, ok := userdata.GetString(rules[n-1].UserData, userdata.TypeComment); ok {
					ch.Sum, _ = strings.CutPrefix(s, "sum ")
				}
			}
			t.Chains = append(t.Chains, ch)
		}
		r.Tables = append(r.Tables, t)
	}
	return r, nil
}

func readSet(c *nftables.Conn, ls *nftables.Set) (*Set, error) {
	// Our sets are known by name (the library reads a verdict map's
	// key type as "verdict").
	s := &Set{Name: ls.Name}
	switch n := ls.Name; {
	case n == setFromVM || n == setToVM:
		s.Kind = IfnameVerdict
	case n == setEgress || n == setIngress:
		s.Kind = MarkVerdict
	case n == setVTEPs4:
		s.Kind = IPv4Addr
	case n == setVTEPs6:
		s.Kind = IPv6Addr
	case strings.HasPrefix(n, "IPv4-"):
		s.Kind = IPv4Interval
	case strings.HasPrefix(n, "IPv6-"):
		s.Kind = IPv6Interval
	default:
		return nil, fmt.Errorf("set %s is not ours", n)
	}
	les, err := c.GetSetElements(ls)
	if err != nil {
		return nil, fmt.Errorf("elements of %s: %w", ls.Name, err)
	}
	if s.Kind.interval() {
		// Starts and (exclusive) ends come as separate elements; at the
		// same key the end of one interval sorts before the start of the
		// next.
		slices.SortFunc(les, func(a, b nftables.SetElement) int {
			if c := bytes.Compare(a.Key, b.Key); c != 0 {
				return c
			}
			if a.IntervalEnd == b.IntervalEnd {
				return 0
			}
			if a.IntervalEnd {
				return -1
			}
			return 1
		})
		var start []byte
		for _, le := range les {
			switch {
			case !le.IntervalEnd && start != nil:
				s.Elems = append(s.Elems, Elem{Key: start, kind: s.Kind}) // open-ended
				start = le.Key
			case !le.IntervalEnd:
				start = le.Key
			case start != nil:
				s.Elems = append(s.Elems, Elem{Key: start, KeyEnd: le.Key, kind: s.Kind})
				start = nil
			}
		}
		if start != nil {
			s.Elems = append(s.Elems, Elem{Key: start, kind: s.Kind})
		}
	} else {
		for _, le := range les {
			e := Elem{Key: le.Key, kind: s.Kind}
			if s.Kind.isMap() {
				e.Verdict = jumpChain(le.Val)
			}
			s.Elems = append(s.Elems, e)
		}
	}
	s.Elems = sortElems(s.Elems)
	return s, nil
}

// readZones reads the bridge -> zone assignment back from the rules
// `iifname "<bridge>" ct zone set <zone>`.
func readZones(rules []*nftables.Rule) map[string]uint16 {
	zones := map[string]uint16{}
	for _, r := range rules {
		var name string
		var zone []byte
		for i, e := range r.Exprs {
			switch e := e.(type) {
			case *expr.Cmp:
				if i > 0 {
					if m, ok := r.Exprs[i-1].(*expr.Meta); ok && m.Key == expr.MetaKeyIIFNAME {
						name = string(bytes.TrimRight(e.Data, "\x00"))
					}
				}
			case *expr.Immediate:
				zone = e.Data
			}
		}
		if name != "" && len(zone) == 2 {
			zones[name] = binary.NativeEndian.Uint16(zone)
		}
	}
	return zones
}

// jumpChain returns the chain of a verdict map element's data as the
// library leaves it: the nested verdict attributes, of which
// NFTA_VERDICT_CHAIN is the chain's name.
func jumpChain(b []byte) string {
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) &^ unix.NLA_F_NESTED
		if n < 4 || n > len(b) {
			return ""
		}
		if typ == unix.NFTA_VERDICT_CHAIN {
			return string(bytes.TrimRight(b[4:n], "\x00"))
		}
		b = b[min((n+3)&^3, len(b)):]
	}
	return ""
}
