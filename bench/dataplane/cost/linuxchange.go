package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/dataplanetest"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/lab"
)

// linuxState is dataplanetest.L2PopState with network ids shaped as
// Neutron's (the brq bridge takes 11 characters of them).
func linuxState(local netip.Addr, nets, perNet int) dataplane.NodeState {
	s := dataplanetest.L2PopState(local, nets, perNet, 50)
	out := s
	out.Networks = map[string]dataplane.Network{}
	for i, key := range sortedKeys(s.Networks) {
		n := s.Networks[key]
		n.ID = fmt.Sprintf("%08d-1111-4000-8000-000000000000", i)
		out.Networks[n.ID] = n
	}
	return out
}

// kernelEvents counts the FDB and neighbour changes the kernel announces
// (RTM_NEWNEIGH/RTM_DELNEIGH, both families) on the given devices of a
// namespace: what a change really touched, counted by the kernel rather
// than by the data plane's own books.
type kernelEvents struct {
	mu      sync.Mutex
	n       int
	devices map[int]bool
	done    chan struct{}
}

func watchKernel(ns string) (*kernelEvents, error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	k := &kernelEvents{devices: map[int]bool{}, done: make(chan struct{})}
	ch := make(chan netlink.NeighUpdate, 4096)
	if err := netlink.NeighSubscribeWithOptions(ch, k.done, netlink.NeighSubscribeOptions{Namespace: &h, ReceiveBufferSize: 1 << 22}); err != nil {
		return nil, err
	}
	go func() {
		for u := range ch {
			k.mu.Lock()
			if k.devices[u.LinkIndex] {
				k.n++
			}
			k.mu.Unlock()
		}
	}()
	return k, nil
}

func (k *kernelEvents) close() { close(k.done) }

// track makes the vxlan devices of the namespace the counted ones.
func (k *kernelEvents) track(ns string) error {
	out := map[int]bool{}
	err := lab.InNS(ns, func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Type() == "vxlan" {
				out[l.Attrs().Index] = true
			}
		}
		return nil
	})
	k.mu.Lock()
	k.devices = out
	k.mu.Unlock()
	return err
}

// take returns the events counted since the last take, once want have
// arrived (or after a second without the last ones) and nothing more
// came for 50 ms: the kernel queues them before the request returns,
// this only waits for the reader goroutine.
func (k *kernelEvents) take(want int) int {
	deadline := time.Now().Add(time.Second)
	last, since := -1, time.Now()
	for {
		k.mu.Lock()
		n := k.n
		k.mu.Unlock()
		if n != last {
			last, since = n, time.Now()
		}
		if (n >= want && time.Since(since) > 50*time.Millisecond) || time.Now().After(deadline) {
			k.mu.Lock()
			n = k.n
			k.n = 0
			k.mu.Unlock()
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// linuxChangeCost is -change for the Linux data plane: one l2pop entry's
// MAC changed on a node holding N entries. "After" is an Apply against
// the record of installed entries, "before" the same change after Resync
// (every vxlan device's FDB and neighbour table dumped, as every Apply
// did before issue 18), the reference one `bridge fdb append` process,
// the iproute2 way to change one entry. Each change is checked twice:
// by the data plane's count of netlink requests (LastApply) and by the
// kernel's own FDB/neighbour notifications.
func linuxChangeCost(ctx context.Context, log *slog.Logger, n *lab.Node, sizes []int, changes int) error {
	dp, err := linux.New(linux.Options{NetNS: n.NS, Logger: log})
	if err != nil {
		return err
	}
	defer dp.Close()
	kev, err := watchKernel(n.NS)
	if err != nil {
		return fmt.Errorf("neighbour subscription: %w", err)
	}
	defer kev.close()
	cpu := func() int64 { return cpuTicks("self") } // with the bridge processes (children)
	fmt.Println("\n| entries on the node (networks) | one entry changed, after: median wall (range) | netlink requests per change, after (dumps + lookups + changes) | objects read in dumps, after | kernel FDB/neighbour notifications per change, after | before (read-back): median wall | netlink requests, before | objects read in dumps, before | reference: one `bridge fdb append` process, median wall | after / reference (wall) | before / reference (wall) | CPU per change: after / before / reference (ms) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, size := range sizes {
		nets, per := shape(size)
		s := linuxState(n.IP(), nets, per)
		start := time.Now()
		if err := dp.Apply(ctx, s); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%d entries installed in %s (%+v)\n", nets*per, time.Since(start).Round(time.Millisecond), dp.LastApply())
		// The vxlan devices just made are read back once (the data plane
		// keeps no record of a device it created in the same Apply).
		if err := dp.Apply(ctx, s); err != nil {
			return err
		}
		if err := kev.track(n.NS); err != nil {
			return err
		}
		kev.take(0)
		first := sortedKeys(s.Networks)[0]
		vni := s.Networks[first].VNI
		var after, before, ref []time.Duration
		var cpuAfter, cpuBefore, cpuRef int64
		var reqAfter, reqBefore, evAfter, readAfter, readBefore []int
		var stAfter linux.ApplyStats
		for i := range changes {
			change := func(b byte) {
				nt := s.Networks[first]
				nt.Entries = slices.Clone(nt.Entries)
				nt.Entries[0].MAC = fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b, i>>8&0xff, i&0xff)
				s.Networks[first] = nt
			}
			// After: diffed against the record.
			change(0xfe)
			c0, t0 := cpu(), time.Now()
			if err := dp.Apply(ctx, s); err != nil {
				return err
			}
			after = append(after, time.Since(t0))
			cpuAfter += cpu() - c0
			stAfter = dp.LastApply()
			if stAfter.FDBAdds != 1 || stAfter.FDBDels != 1 || stAfter.NeighSets != 1 || stAfter.NeighDels != 0 || stAfter.LinkChanges != 0 || stAfter.ReadBacks != 0 {
				return fmt.Errorf("one changed MAC: %+v, want 1 FDB add, 1 FDB delete, 1 neighbour set, no read-back", stAfter)
			}
			reqAfter = append(reqAfter, stAfter.Requests())
			readAfter = append(readAfter, stAfter.Dumped)
			ev := kev.take(3)
			evAfter = append(evAfter, ev)
			if ev != 3 {
				return fmt.Errorf("one changed MAC: the kernel announced %d FDB/neighbour changes, want 3", ev)
			}
			// Reference: one iproute2 process adding one FDB entry (then
			// removed, untimed).
			mac := fmt.Sprintf("fa:16:3e:ee:%02x:%02x", i>>8&0xff, i&0xff)
			dev := linux.VXLANName(vni)
			c0, t0 = cpu(), time.Now()
			if out, err := exec.CommandContext(ctx, "bridge", "-n", n.NS, "fdb", "append", mac, "dev", dev, "dst", "198.18.1.1", "self", "permanent").CombinedOutput(); err != nil {
				return fmt.Errorf("bridge fdb append: %v: %s", err, out)
			}
			ref = append(ref, time.Since(t0))
			cpuRef += cpu() - c0
			if out, err := exec.CommandContext(ctx, "bridge", "-n", n.NS, "fdb", "del", mac, "dev", dev, "dst", "198.18.1.1", "self").CombinedOutput(); err != nil {
				return fmt.Errorf("bridge fdb del: %v: %s", err, out)
			}
			kev.take(2)
			// Before: the next change through the read-back path.
			change(0xfd)
			dp.Resync()
			c0, t0 = cpu(), time.Now()
			if err := dp.Apply(ctx, s); err != nil {
				return err
			}
			before = append(before, time.Since(t0))
			cpuBefore += cpu() - c0
			st := dp.LastApply()
			if st.FDBAdds != 1 || st.FDBDels != 1 || st.NeighSets != 1 || st.ReadBacks != nets {
				return fmt.Errorf("one changed MAC with read-back: %+v, want 1 FDB add, 1 delete, 1 neighbour set, %d read-backs", st, nets)
			}
			reqBefore = append(reqBefore, st.Requests())
			readBefore = append(readBefore, st.Dumped)
			kev.take(3)
		}
		ma, mb, mr := median(after), median(before), median(ref)
		perChange := func(ticks int64) float64 { return float64(ticks) * 10 / float64(changes) } // 100 ticks/s
		fmt.Printf("| %d (%d) | %s (%s) | %d (%d + %d + 3) | %d | %d | %s | %d | %d | %s | %.2f | %.1f | %.1f / %.1f / %.1f |\n",
			nets*per, nets, ms(ma), list(after), medianInt(reqAfter), stAfter.Dumps, stAfter.Lookups, medianInt(readAfter), medianInt(evAfter),
			ms(mb), medianInt(reqBefore), medianInt(readBefore), ms(mr),
			float64(ma)/float64(mr), float64(mb)/float64(mr), perChange(cpuAfter), perChange(cpuBefore), perChange(cpuRef))
		// Empty the node for the next size.
		if err := dp.Apply(ctx, dataplane.NodeState{LocalIP: n.IP(), UDPPort: 4789}); err != nil {
			return err
		}
	}
	return nil
}

func medianInt(v []int) int {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
