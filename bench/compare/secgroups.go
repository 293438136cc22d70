package main

// `compare secgroups`: issue 13's side-by-side measurement. The same
// security-group work on Neutron 2023.1 (its neutron-openvswitch-agent with
// the native OVS firewall, firewall_driver = openvswitch) and on neutrino
// (server + `neutrino agent openvswitch`, same driver), one system after
// the other on the same machine in the same run:
//
//   - node 1 hosts N ports (steps 1, 100, 1,000), all in group "web", plugged
//     on br-int as os-vif does; web admits the members of group "members"
//     (a remote group with M members, 2,000 by default);
//   - rule events: a TCP rule created in web (API call returns = t0) until
//     node 1's br-int enforces it for every one of the N ports: each port
//     is covered by a flow matching the rule's tp_dst that either names
//     the port (reg5 = its ofport: Neutron writes a rule once per port, in
//     table 82) or names no port (a flow of the group: neutrino writes a
//     rule once per security group on the node, in table 85 with reg8 =
//     the group, which every port's table 82 flow looks up); then the rule
//     is deleted and its flows awaited gone (not timed). The dump that
//     confirms an event also checks that a group flow's group (reg8) is
//     looked up by every one of the N ports' table 82 flows;
//   - member events: a port bound to node 2 created in "members" (t0 = API
//     call returns) until node 1's br-int has a flow for its address
//     (nw_src=<ip>, the remote-group conjunction: table 82 in Neutron, 85
//     in neutrino); then the port is deleted and its flow awaited gone
//     (not timed).
//
// An event's time is when `ovs-ofctl monitor br-int` on node 1 (OVS's
// flow monitor, which reports every flow added, modified or deleted by
// any OpenFlow client as it happens) printed the update that completed it,
// from the API call's return (0 if it came earlier; the time from the
// call's start is kept too). A dump-flows (filtered on the rule's port
// or the member's address) then confirms it; should the
// monitor have missed it (OVS pauses a monitor with over 128 KiB queued),
// the event is timed by polling that dump every 20 ms instead, and counted
// as missed. The systems are black boxes behind the same API and the same
// OVS tables; nothing of neutrino is imported.
//
// Data-plane operations: for the first -ops-events events of each kind per
// step, `ovs-ofctl monitor br-int` on node 1 counts every flow added,
// modified or deleted (whoever sent it) from the API call until br-int has
// been quiet for -ops-quiet, separately for the change (rule create, member
// join) and its undo (rule delete, member leave). That is the cost of one
// change in flows against the number of ports.
//
// VM interfaces are plugged as os-vif does (external_ids iface-id,
// attached-mac, iface-status, vm-uuid) but, with -plug dummy (default), as
// OVS dummy interfaces (ovs-vswitchd --enable-dummy): the firewall flows
// are the same; 1,000 userspace-datapath internal ports (a kernel tap each,
// polled by ovs-vswitchd) took over 20 minutes to plug at load 25.
//
// The Neutron system runs holding -ref-lock (flock), as every user of the
// real Neutron on this machine does.
//
// A neutrino system named with @ovs-ofctl or @native (e.g. -systems
// neutrino-mariadb@ovs-ofctl,neutrino-mariadb) sets its agents' [ovs]
// of_interface, so both OpenFlow clients are measured in one run.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SGStep is one port count's measurements on one system.
type SGStep struct {
	Ports int `json:"ports"`
	// RuleS and MemberS are the event latencies in seconds, in order.
	// They run from the API call's return; an event already seen by then
	// counts 0. RuleCallS and MemberCallS run from the call's start.
	RuleS       []float64 `json:"rule_create_to_enforced_s"`
	MemberS     []float64 `json:"member_join_to_accepted_s"`
	RuleCallS   []float64 `json:"rule_call_to_enforced_s"`
	MemberCallS []float64 `json:"member_call_to_accepted_s"`
	// MonitorMissed counts events the flow monitor did not show complete
	// (a paused monitor), timed by polling dump-flows instead.
	MonitorMissed int `json:"monitor_missed,omitempty"`
	// RuleAPIS and MemberAPIS are the API calls' own latencies.
	RuleAPIS   []float64 `json:"rule_create_api_s"`
	MemberAPIS []float64 `json:"member_create_api_s"`
	// PlugS is the time from plugging this step's new ports to all of
	// them ACTIVE (the firewall of every port in place).
	PlugS float64 `json:"plug_to_all_active_s"`
	// Flows is br-int's flow count on node 1 once the step's ports are in.
	Flows int `json:"node1_flows"`
	// The flow changes on node 1's br-int per counted event.
	RuleOps      []int `json:"rule_create_flow_changes"`
	RuleDelOps   []int `json:"rule_delete_flow_changes"`
	MemberOps    []int `json:"member_join_flow_changes"`
	MemberDelOps []int `json:"member_leave_flow_changes"`
	// MonitorPaused: OVS paused the flow monitor (too many changes queued)
	// during a counted event, so the counts are lower bounds.
	MonitorPaused bool   `json:"monitor_paused,omitempty"`
	Error         string `json:"error,omitempty"`
}

// SGSystem is one system's run.
type SGSystem struct {
	Name    string   `json:"name"`
	Label   string   `json:"label"`
	Members int      `json:"remote_group_members"`
	Steps   []SGStep `json:"steps"`
	Error   string   `json:"error,omitempty"`
}

// SGResults is the whole run.
type SGResults struct {
	Started  time.Time  `json:"started"`
	Finished time.Time  `json:"finished"`
	Command  string     `json:"command"`
	Machine  Machine    `json:"machine"`
	Events   int        `json:"events_per_step"`
	Systems  []SGSystem `json:"systems"`
	LoadAvg  []string   `json:"loadavg_samples"`
}

func runSecgroups(logger *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("secgroups", flag.ExitOnError)
	sysList := fs.String("systems", "neutron,neutrino-mariadb", "systems to measure, in order")
	portsS := fs.String("ports", "1,100,1000", "ports on node 1 (cumulative steps)")
	events := fs.Int("events", 10, "measured events of each kind per step")
	members := fs.Int("members", 2000, "members of the remote group")
	noUpDown := fs.Bool("no-updown", false, "servers and agents (FIREWALL_DRIVER=openvswitch agents.sh up ...) already run")
	refDir := fs.String("reference", "bench/reference", "directory of up.sh/down.sh/agents.sh")
	outDir := fs.String("out", "bench/compare/out", "where secgroups.json goes")
	budget := fs.Duration("budget", 40*time.Minute, "time limit per system; steps not finished by then are recorded as such")
	agentWait := fs.Duration("agent-wait", 5*time.Minute, "how long the agents may take to report alive after they start (Neutron's take minutes on a loaded machine)")
	plug := fs.String("plug", "dummy", "VM interface type on br-int: dummy (ovs-vswitchd --enable-dummy) or internal (a kernel tap each)")
	opsEvents := fs.Int("ops-events", 3, "events of each kind per step whose flow changes are counted")
	opsQuiet := fs.Duration("ops-quiet", 3*time.Second, "a counted event's changes end when br-int has been quiet this long (Neutron's agent loop is 2 s)")
	refLock := fs.String("ref-lock", "/tmp/neutron-ref.lock", "file locked (flock) while the Neutron system runs; empty: none")
	_ = fs.Parse(args)
	if *plug != "dummy" && *plug != "internal" {
		return fmt.Errorf("-plug %q: want dummy or internal", *plug)
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	steps, err := ints(*portsS)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	res := SGResults{Started: time.Now().UTC(), Command: "go run ./bench/compare secgroups " + strings.Join(args, " "),
		Machine: machine(ctx), Events: *events}
	var env []string
	if !*noUpDown {
		bin, err := buildNeutrino(ctx, logger)
		if err != nil {
			return err
		}
		env = append(os.Environ(), "NEUTRINO_BIN="+bin, "FIREWALL_DRIVER=openvswitch")
		if *plug == "dummy" {
			env = append(env, "OVS_DUMMY=1")
		}
	}
	opt := sgOptions{steps: steps, events: *events, members: *members, agentWait: *agentWait, plug: *plug,
		opsEvents: *opsEvents, opsQuiet: *opsQuiet, outDir: *outDir}
	for _, name := range strings.Split(*sysList, ",") {
		base, ofi, variant := strings.Cut(strings.TrimSpace(name), "@")
		sys, ok := systems[base]
		if !ok || variant && (sys.Name == "neutron" || ofi != "native" && ofi != "ovs-ofctl") {
			return fmt.Errorf("unknown system %q", name)
		}
		r := SGSystem{Name: sys.Name, Label: sys.Label, Members: *members}
		senv := env
		if variant {
			r.Name, r.Label = sys.Name+"@"+ofi, sys.Label+", of_interface "+ofi
			if env != nil {
				senv = append(slices.Clone(env), "OF_INTERFACE="+ofi)
			}
		}
		unlock, err := refLocked(ctx, logger, sys, *refLock)
		if err != nil {
			// What the earlier systems measured is still written.
			r.Error = err.Error()
			res.Systems = append(res.Systems, r)
			break
		}
		sctx, scancel := context.WithTimeout(ctx, *budget)
		err = sgSystem(sctx, logger.With("system", r.Name), sys, senv, *refDir, opt, &r, &res)
		scancel()
		unlock()
		if err != nil {
			r.Error = err.Error()
			logger.Error("secgroups", "system", sys.Name, "err", err)
		}
		res.Systems = append(res.Systems, r)
		if ctx.Err() != nil {
			break
		}
	}
	if !*noUpDown {
		_ = script(context.Background(), nil, filepath.Join(*refDir, "down.sh"), "all")
	}
	res.Finished = time.Now().UTC()
	b, _ := json.MarshalIndent(res, "", " ")
	if err := os.WriteFile(filepath.Join(*outDir, "secgroups.json"), b, 0o644); err != nil {
		return err
	}
	fmt.Print(SGTable(res))
	return ctx.Err()
}

// refLocked takes the reference lock for the Neutron system (blocking
// until whoever holds it is done) and returns its release.
func refLocked(ctx context.Context, log *slog.Logger, sys System, path string) (func(), error) {
	if sys.Name != "neutron" || path == "" {
		return func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("reference lock: %w", err)
	}
	log.Info("waiting for the reference lock", "path", path)
	locked := make(chan error, 1)
	go func() { locked <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-locked:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("reference lock: %w", err)
		}
	case <-ctx.Done():
		f.Close() // the blocked flock returns when the process exits
		return nil, ctx.Err()
	}
	log.Info("reference lock held", "path", path)
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		log.Info("reference lock released", "path", path)
	}, nil
}

type sgOptions struct {
	steps           []int
	events, members int
	agentWait       time.Duration
	plug            string
	opsEvents       int
	opsQuiet        time.Duration
	outDir          string
}

// sgSystem brings one system and its two agents up (unless they run
// already), measures and brings them down again.
func sgSystem(ctx context.Context, log *slog.Logger, sys System, env []string, refDir string, opt sgOptions, r *SGSystem, res *SGResults) error {
	kind := "neutrino"
	if sys.Name == "neutron" {
		kind = "neutron"
	}
	if env != nil {
		env = append(append([]string(nil), env...), fmt.Sprintf("NEUTRINO_RPC_PORT=%d", sys.RPCPort))
		if err := script(ctx, env, filepath.Join(refDir, "up.sh"), sys.Name); err != nil {
			return err
		}
		defer func() { _ = script(context.Background(), nil, filepath.Join(refDir, "down.sh"), sys.Name) }()
		_ = script(context.Background(), nil, filepath.Join(refDir, "agents.sh"), "down")
		if err := script(ctx, env, filepath.Join(refDir, "agents.sh"), "up", kind); err != nil {
			return err
		}
		defer func() { _ = script(context.Background(), nil, filepath.Join(refDir, "agents.sh"), "down") }()
	}
	nodes, err := loadNodes(ctx, refDir)
	if err != nil {
		return err
	}
	c := NewClient(sys.URL)
	t0 := time.Now()
	if err := waitAgents(ctx, c, nodes, opt.agentWait); err != nil {
		return err
	}
	log.Info("agents alive", "took", time.Since(t0).Round(time.Second))
	w := &sgWork{c: c, n1: nodes[0], n2: nodes[1], log: log, opt: opt}
	if err := w.setup(ctx, opt.members); err != nil {
		return err
	}
	mon, err := w.n1.monitor(ctx)
	if err != nil {
		return err
	}
	if f, err := os.Create(filepath.Join(opt.outDir, "secgroups-monitor-"+r.Name+".log")); err == nil {
		defer f.Close()
		mon.log = f
	}
	defer mon.stop()
	w.mon = mon
	for _, n := range opt.steps {
		st := SGStep{Ports: n}
		err := w.step(ctx, n, opt.events, &st)
		if err != nil {
			st.Error = err.Error()
		}
		r.Steps = append(r.Steps, st)
		res.LoadAvg = append(res.LoadAvg, fmt.Sprintf("%s %s ports=%d: %s", time.Now().UTC().Format("15:04:05"), r.Name, n, loadavg()))
		log.Info("step", "ports", n, "rule_p50", pct(st.RuleS, 0.5), "rule_max", pct(st.RuleS, 1), "member_p50", pct(st.MemberS, 0.5), "member_max", pct(st.MemberS, 1), "plug_s", st.PlugS,
			"flows", st.Flows, "rule_ops", st.RuleOps, "rule_del_ops", st.RuleDelOps, "member_ops", st.MemberOps, "member_del_ops", st.MemberDelOps)
		if err != nil {
			return err
		}
	}
	return nil
}

type sgWork struct {
	c           *Client
	n1, n2      Node
	log         *slog.Logger
	opt         sgOptions
	mon         *flowMonitor
	net, subnet string
	web, memb   string
	ports       []sgPort // plugged on node 1
	nextTCP     int
	nextMember  int
}

type sgPort struct{ id, mac string }

func (w *sgWork) setup(ctx context.Context, members int) error {
	var err error
	// The pool ends below 10.90.200.0: the joiners' fixed addresses lie
	// above it (both servers allocate at random within the pool).
	if w.net, err = w.c.CreateNetwork(ctx, "bench-sg"); err != nil {
		return err
	}
	var sub struct{ Subnet idOnly }
	if _, err := w.c.Do(ctx, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": w.net, "cidr": "10.90.0.0/16", "ip_version": 4,
		"allocation_pools": []map[string]string{{"start": "10.90.0.2", "end": "10.90.199.254"}}}}, &sub); err != nil {
		return fmt.Errorf("subnet of bench-sg: %w", err)
	}
	w.subnet = sub.Subnet.ID
	if w.web, err = w.group(ctx, "bench-web"); err != nil {
		return err
	}
	if w.memb, err = w.group(ctx, "bench-members"); err != nil {
		return err
	}
	if _, err = w.rule(ctx, map[string]any{"security_group_id": w.web, "direction": "ingress", "ethertype": "IPv4",
		"remote_group_id": w.memb}); err != nil {
		return err
	}
	t0 := time.Now()
	// Two bulk requests at a time (both servers run two API workers), of
	// 25 ports each: Neutron took over the client's 2 minutes for 100 at
	// load 38.
	const bulk = 25
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for c := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := c * bulk; from < members && errs[c] == nil; from += 2 * bulk {
				ps := make([]map[string]any, min(bulk, members-from))
				for i := range ps {
					ps[i] = map[string]any{"network_id": w.net, "name": fmt.Sprintf("member-%d", from+i), "security_groups": []string{w.memb}}
				}
				if _, err := w.c.Do(ctx, "POST", "/v2.0/ports", map[string]any{"ports": ps}, nil); err != nil {
					errs[c] = fmt.Errorf("member ports: %w", err)
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	w.log.Info("remote group filled", "members", members, "took", time.Since(t0).Round(time.Millisecond))
	w.nextTCP = 10000
	return nil
}

func (w *sgWork) group(ctx context.Context, name string) (string, error) {
	var out struct {
		G idOnly `json:"security_group"`
	}
	_, err := w.c.Do(ctx, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": name}}, &out)
	return out.G.ID, err
}

func (w *sgWork) rule(ctx context.Context, body map[string]any) (string, error) {
	var out struct {
		R idOnly `json:"security_group_rule"`
	}
	_, err := w.c.Do(ctx, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": body}, &out)
	return out.R.ID, err
}

// step grows node 1 to n ports in web and measures the events.
func (w *sgWork) step(ctx context.Context, n, events int, st *SGStep) error {
	if err := w.grow(ctx, n, st); err != nil {
		return err
	}
	// Every interface's ofport in one call (one ovs-vsctl per port took
	// minutes at 1,000 ports on the loaded machine).
	list, err := w.n1.ovs(ctx, "ovs-vsctl", "--format=csv", "--data=bare", "--no-headings", "--columns=name,ofport", "list", "Interface")
	if err != nil {
		return err
	}
	ofports := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		if name, of, ok := strings.Cut(l, ","); ok {
			ofports[name] = atoi(of)
		}
	}
	want := map[string]bool{}
	for _, p := range w.ports {
		of, ok := ofports["tap"+p.id[:11]]
		if !ok || of <= 0 {
			return fmt.Errorf("tap%s has no ofport", p.id[:11])
		}
		want[fmt.Sprintf("reg5=%#x", of)] = true
	}
	// The counted events start on a quiet br-int (the agent done with the
	// step's new ports).
	if _, _, err := w.mon.settle(ctx, w.opt.opsQuiet); err != nil {
		return err
	}
	agg, err := w.n1.ovs(ctx, "ovs-ofctl", "-O", "OpenFlow13", "dump-aggregate", "br-int")
	if err != nil {
		return err
	}
	if m := flowCountRE.FindStringSubmatch(agg); m != nil {
		st.Flows, _ = strconv.Atoi(m[1])
	}
	for i := 0; i < events; i++ {
		counted := i < w.opt.opsEvents
		base := w.mon.count()
		port := w.nextTCP
		w.nextTCP++
		filter := fmt.Sprintf("tcp,tp_dst=%d", port)
		covered := func() (bool, error) {
			out, err := w.n1.ovs(ctx, "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br-int", filter)
			if err != nil {
				return false, err
			}
			seen := map[string]bool{}
			var groups []string
			for _, l := range strings.Split(out, "\n") {
				if g := ruleCover(l, port, want, seen); g != "" {
					groups = append(groups, g)
				}
			}
			if len(groups) == 0 || len(seen) < len(want) {
				return len(seen) == len(want), nil
			}
			// A group's flow enforces the rule on the ports whose table
			// 82 flow looks the group up.
			ports, err := w.n1.ovs(ctx, "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br-int", "table=82")
			if err != nil {
				return false, err
			}
			looked := map[string]bool{}
			for _, l := range strings.Split(ports, "\n") {
				r := reg5re.FindString(l)
				for _, g := range groups {
					if want[r] && strings.Contains(l, "set_field:"+g+"->reg8,") {
						looked[r] = true
					}
				}
			}
			return len(looked) == len(want), nil
		}
		seen := map[string]bool{}
		w.mon.mark()
		a := time.Now()
		id, err := w.rule(ctx, map[string]any{"security_group_id": w.web, "direction": "ingress", "ethertype": "IPv4",
			"protocol": "tcp", "port_range_min": port, "port_range_max": port})
		if err != nil {
			return err
		}
		t0 := time.Now()
		st.RuleAPIS = append(st.RuleAPIS, t0.Sub(a).Seconds())
		done, err := w.mon.first(ctx, func(l string) bool {
			if added(l) {
				ruleCover(l, port, want, seen)
			}
			return len(seen) == len(want)
		})
		if err != nil {
			return fmt.Errorf("rule tcp/%d at %d ports: %w", port, n, err)
		}
		if err := w.confirm(ctx, st, t0, &done, covered); err != nil {
			return fmt.Errorf("rule tcp/%d at %d ports: %w", port, n, err)
		}
		st.RuleS = append(st.RuleS, max(0, done.Sub(t0).Seconds()))
		st.RuleCallS = append(st.RuleCallS, done.Sub(a).Seconds())
		if counted {
			if base, err = w.settled(ctx, base, &st.RuleOps, st); err != nil {
				return err
			}
		}
		if _, err := w.c.Do(ctx, "DELETE", "/v2.0/security-group-rules/"+id, nil, nil); err != nil {
			return err
		}
		if err := waitGone(ctx, w.n1, filter); err != nil {
			return fmt.Errorf("rule tcp/%d deleted: %w", port, err)
		}
		if counted {
			if _, err = w.settled(ctx, base, &st.RuleDelOps, st); err != nil {
				return err
			}
		}
	}
	for i := 0; i < events; i++ {
		counted := i < w.opt.opsEvents
		base := w.mon.count()
		// The joiner's address is fixed here, so its flow can be told
		// apart even when it comes before the API call returns (outside
		// the pool the other ports' addresses come from).
		k := w.nextMember
		w.nextMember++
		ip := fmt.Sprintf("10.90.%d.%d", 200+k/250, 1+k%250)
		var out struct {
			Port struct {
				ID string `json:"id"`
			}
		}
		w.mon.mark()
		a := time.Now()
		_, err := w.c.Do(ctx, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": w.net,
			"name": fmt.Sprintf("joiner-%d", k), "security_groups": []string{w.memb},
			"fixed_ips":       []map[string]string{{"subnet_id": w.subnet, "ip_address": ip}},
			"binding:host_id": w.n2.Host, "device_owner": "compute:nova"}}, &out)
		if err != nil {
			return err
		}
		t0 := time.Now()
		st.MemberAPIS = append(st.MemberAPIS, t0.Sub(a).Seconds())
		filter := "ip,nw_src=" + ip
		done, err := w.mon.first(ctx, func(l string) bool {
			m := nwSrcRE.FindStringSubmatch(l)
			return m != nil && m[1] == ip && added(l) && strings.Contains(l, "conjunction(")
		})
		if err != nil {
			return fmt.Errorf("member %s at %d ports: %w", ip, n, err)
		}
		if err := w.confirm(ctx, st, t0, &done, func() (bool, error) {
			o, err := w.n1.ovs(ctx, "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br-int", filter)
			return strings.Contains(o, "conjunction("), err
		}); err != nil {
			return fmt.Errorf("member %s at %d ports: %w", ip, n, err)
		}
		st.MemberS = append(st.MemberS, max(0, done.Sub(t0).Seconds()))
		st.MemberCallS = append(st.MemberCallS, done.Sub(a).Seconds())
		if counted {
			if base, err = w.settled(ctx, base, &st.MemberOps, st); err != nil {
				return err
			}
		}
		if _, err := w.c.Do(ctx, "DELETE", "/v2.0/ports/"+out.Port.ID, nil, nil); err != nil {
			return err
		}
		if err := waitGone(ctx, w.n1, filter); err != nil {
			return fmt.Errorf("member %s left: %w", ip, err)
		}
		if counted {
			if _, err = w.settled(ctx, base, &st.MemberDelOps, st); err != nil {
				return err
			}
		}
	}
	return nil
}

var (
	flowCountRE = regexp.MustCompile(`flow_count=(\d+)`)
	tpDstRE     = regexp.MustCompile(`\btp_dst=(\d+)\b`)
	nwSrcRE     = regexp.MustCompile(`\bnw_src=([0-9.]+)\b`)
)

// added tells a monitor line that added or modified a flow.
func added(l string) bool {
	return strings.Contains(l, "event=ADDED") || strings.Contains(l, "event=MODIFIED")
}

var reg8re = regexp.MustCompile(`reg8=(0x[0-9a-f]+)`)

// ruleCover marks in seen the ports of want (reg5=<ofport>) that a flow
// (a dump or monitor line) of the TCP rule to port enforces it for: the
// port its reg5 names (Neutron: one flow per port), or, for a flow that
// names no port, all of them (neutrino: one flow per security group,
// matching reg8 = the group, which it returns; covered checks that the
// ports look the group up).
func ruleCover(l string, port int, want, seen map[string]bool) (group string) {
	if m := tpDstRE.FindStringSubmatch(l); m == nil || m[1] != strconv.Itoa(port) || !strings.Contains(l, "tcp") {
		return ""
	}
	if r := reg5re.FindString(l); r != "" {
		if want[r] {
			seen[r] = true
		}
		return ""
	}
	for r := range want {
		seen[r] = true
	}
	if m := reg8re.FindStringSubmatch(l); m != nil {
		return m[1]
	}
	return ""
}

// confirm checks with a dump that what the monitor showed complete at
// *done is in br-int; if not (a paused monitor loses updates), it polls
// and *done becomes the first probe that saw it.
func (w *sgWork) confirm(ctx context.Context, st *SGStep, t0 time.Time, done *time.Time, probe func() (bool, error)) error {
	if !done.IsZero() {
		ok, err := probe()
		if err != nil || ok {
			return err
		}
	}
	st.MonitorMissed++
	var at float64
	if err := waitFor(ctx, t0, &at, probe); err != nil {
		return err
	}
	*done = t0.Add(time.Duration(at * float64(time.Second)))
	return nil
}

// settled waits until node 1's br-int has been quiet for opsQuiet, appends
// the flow changes since base to ops and returns the new base.
func (w *sgWork) settled(ctx context.Context, base int, ops *[]int, st *SGStep) (int, error) {
	n, paused, err := w.mon.settle(ctx, w.opt.opsQuiet)
	if err != nil {
		return 0, err
	}
	*ops = append(*ops, n-base)
	st.MonitorPaused = st.MonitorPaused || paused
	return n, nil
}

// flowMonitor counts the flow changes on a node's br-int: `ovs-ofctl
// monitor br-int watch:!initial` prints (on stderr, unbuffered) one
// "event=ADDED|MODIFIED|DELETED" line per flow changed by any OpenFlow
// client.
type flowMonitor struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	n      int
	last   time.Time
	paused bool
	done   chan struct{}
	// lines are the updates since the last mark; grew is closed (and
	// replaced) when one is added.
	lines []monLine
	grew  chan struct{}
	log   io.Writer // every line, timestamped (nil: none)
}

type monLine struct {
	at   time.Time
	text string
}

func (n Node) monitor(ctx context.Context) (*flowMonitor, error) {
	cmd := exec.CommandContext(ctx, "ovs-ofctl", "monitor", "br-int", "watch:!initial")
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+n.RunDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout // ovs-ofctl monitor prints the updates on stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ovs-ofctl monitor on %s: %w", n.Host, err)
	}
	m := &flowMonitor{cmd: cmd, last: time.Now(), done: make(chan struct{}), grew: make(chan struct{})}
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			if m.log != nil {
				fmt.Fprintf(m.log, "%s %s\n", time.Now().UTC().Format("15:04:05.000000"), line)
			}
			m.mu.Lock()
			switch {
			case strings.Contains(line, " event="):
				m.n++
				m.last = time.Now()
				m.lines = append(m.lines, monLine{m.last, line})
				close(m.grew)
				m.grew = make(chan struct{})
			case strings.Contains(line, "PAUSED"):
				m.paused = true
			}
			m.mu.Unlock()
		}
	}()
	return m, nil
}

// mark forgets the updates seen so far: first looks only at later ones.
func (m *flowMonitor) mark() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lines = nil
}

// first feeds the updates since the mark to probe, in order, waiting for
// more (at most 5 minutes), and returns the arrival time of the one it
// accepted; the zero time if the monitor was paused meanwhile and 30 s
// went by without (the caller then polls).
func (m *flowMonitor) first(ctx context.Context, probe func(line string) bool) (time.Time, error) {
	end := time.Now().Add(5 * time.Minute)
	for i := 0; ; {
		m.mu.Lock()
		lines, grew, paused, last := m.lines[i:], m.grew, m.paused, m.last
		m.mu.Unlock()
		for _, l := range lines {
			i++
			if probe(l.text) {
				return l.at, nil
			}
		}
		if paused && time.Since(last) > 30*time.Second || time.Now().After(end) {
			return time.Time{}, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-m.done:
			return time.Time{}, errors.New("ovs-ofctl monitor ended (its error is in the log above)")
		case <-grew:
		case <-time.After(time.Second):
		}
	}
}

func (m *flowMonitor) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// settle waits (at most 2 minutes) until no flow has changed for quiet and
// returns the running count and whether OVS paused the monitor since the
// last settle.
func (m *flowMonitor) settle(ctx context.Context, quiet time.Duration) (int, bool, error) {
	end := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-m.done:
			return 0, false, errors.New("ovs-ofctl monitor ended (its error is in the log above)")
		default:
		}
		m.mu.Lock()
		n, last, paused := m.n, m.last, m.paused
		m.mu.Unlock()
		if time.Since(last) >= quiet {
			m.mu.Lock()
			m.paused = false
			m.mu.Unlock()
			return n, paused, nil
		}
		if time.Now().After(end) {
			return 0, false, errors.New("br-int not quiet within 2 minutes")
		}
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-time.After(quiet - time.Since(last)):
		}
	}
}

func (m *flowMonitor) stop() {
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
}

var reg5re = regexp.MustCompile(`reg5=0x[0-9a-f]+`)

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// grow creates node 1's ports up to n (bulk, bound to node 1, in web),
// plugs them as os-vif does (one ovs-vsctl call per 100) and waits until
// every one is ACTIVE.
func (w *sgWork) grow(ctx context.Context, n int, st *SGStep) error {
	var fresh []sgPort
	for len(w.ports)+len(fresh) < n {
		k := min(100, n-len(w.ports)-len(fresh))
		ps := make([]map[string]any, k)
		for i := range ps {
			ps[i] = map[string]any{"network_id": w.net, "name": fmt.Sprintf("web-%d", len(w.ports)+len(fresh)+i),
				"security_groups": []string{w.web}, "binding:host_id": w.n1.Host, "device_owner": "compute:nova"}
		}
		var out struct{ Ports []idOnly }
		if _, err := w.c.Do(ctx, "POST", "/v2.0/ports", map[string]any{"ports": ps}, &out); err != nil {
			return fmt.Errorf("web ports: %w", err)
		}
		for _, p := range out.Ports {
			fresh = append(fresh, sgPort{p.ID, p.MAC})
		}
	}
	t0 := time.Now()
	for chunk := range slices.Chunk(fresh, 100) {
		var args []string
		var links strings.Builder
		for _, p := range chunk {
			tap := "tap" + p.id[:11]
			args = append(args, "--", "--may-exist", "add-port", "br-int", tap, "--", "set", "Interface", tap,
				"type="+w.opt.plug, "mac=\""+p.mac+"\"", "external_ids:iface-id="+p.id, "external_ids:attached-mac="+p.mac,
				"external_ids:iface-status=active", "external_ids:vm-uuid=bench-vm-"+p.id)
			fmt.Fprintf(&links, "link set %s up\n", tap)
		}
		if _, err := w.n1.ovs(ctx, "ovs-vsctl", args...); err != nil {
			return err
		}
		if w.opt.plug == "dummy" {
			continue // no kernel link; OVS has it up
		}
		cmd := exec.CommandContext(ctx, "ip", "-n", w.n1.NS, "-batch", "-")
		cmd.Stdin = strings.NewReader(links.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("links up: %w: %s", err, out)
		}
	}
	w.ports = append(w.ports, fresh...)
	end := time.Now().Add(15 * time.Minute)
	for {
		var out struct{ Ports []idOnly }
		if _, err := w.c.Do(ctx, "GET", "/v2.0/ports?fields=id&fields=status&binding:host_id="+w.n1.Host+"&network_id="+w.net, nil, &out); err != nil {
			return err
		}
		active := 0
		for _, p := range out.Ports {
			if p.Status == "ACTIVE" {
				active++
			}
		}
		if active >= len(w.ports) {
			break
		}
		if time.Now().After(end) {
			return fmt.Errorf("%d of %d ports ACTIVE after 15 min", active, len(w.ports))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	st.PlugS = time.Since(t0).Seconds()
	return nil
}

// waitFor polls probe every 20 ms (at most 5 minutes) and stores the
// midpoint of the first probe that saw it true, in seconds since t0.
func waitFor(ctx context.Context, t0 time.Time, at *float64, probe func() (bool, error)) error {
	end := time.Now().Add(5 * time.Minute)
	for {
		b := time.Now()
		ok, err := probe()
		if err != nil {
			return err
		}
		if ok {
			*at = (b.Sub(t0) + time.Since(b)/2).Seconds()
			return nil
		}
		if time.Now().After(end) {
			return errors.New("not seen within 5 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitGone waits until no flow matches filter on n's br-int.
func waitGone(ctx context.Context, n Node, filter string) error {
	var at float64
	return waitFor(ctx, time.Now(), &at, func() (bool, error) {
		out, err := n.ovs(ctx, "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "--no-stats", "br-int", filter)
		return strings.TrimSpace(out) == "", err
	})
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

// pct is the q-quantile (nearest rank) of v; 0 for none.
func pct(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// SGTable renders the run as the markdown tables of docs/BENCHMARKS.md:
// latencies, then flow changes per event.
func SGTable(res SGResults) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| system | ports on node 1 | rule create -> enforced on all ports: p50 / p99 (max of %d) | member join (%s-member group) -> accepted on node 1: p50 / p99 | rule API call p50 (call start -> enforced p99) | plug -> all ACTIVE |\n|---|---|---|---|---|---|\n", res.Events, membersOf(res))
	for _, s := range res.Systems {
		for _, st := range s.Steps {
			if len(st.RuleS) < res.Events || len(st.MemberS) < res.Events {
				fmt.Fprintf(&b, "| %s | %d | not finished (%d rule, %d member events): %s | | | |\n", s.Label, st.Ports, len(st.RuleS), len(st.MemberS), st.Error)
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %s / %s | %s / %s | %s (%s) | %.1f s |\n", s.Label, st.Ports,
				secs(pct(st.RuleS, 0.5)), secs(pct(st.RuleS, 0.99)), secs(pct(st.MemberS, 0.5)), secs(pct(st.MemberS, 0.99)),
				secs(pct(st.RuleAPIS, 0.5)), secs(pct(st.RuleCallS, 0.99)), st.PlugS)
		}
		if s.Error != "" {
			fmt.Fprintf(&b, "| %s | error | %s | | | |\n", s.Label, s.Error)
		}
	}
	b.WriteString("\n| system | ports on node 1 | flows in br-int | flows changed: rule create / delete | member join / leave |\n|---|---|---|---|---|\n")
	for _, s := range res.Systems {
		for _, st := range s.Steps {
			note := ""
			if st.MonitorPaused {
				note = " (monitor paused: lower bounds)"
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %v / %v | %v / %v%s |\n", s.Label, st.Ports, st.Flows,
				st.RuleOps, st.RuleDelOps, st.MemberOps, st.MemberDelOps, note)
		}
	}
	return b.String()
}

func membersOf(res SGResults) string {
	if len(res.Systems) == 0 {
		return "?"
	}
	return strconv.Itoa(res.Systems[0].Members)
}

func secs(s float64) string {
	if s >= 1 {
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.0f ms", s*1000)
}
