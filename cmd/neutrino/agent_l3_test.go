package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"neutrino/internal/l3"
	"neutrino/internal/lab"
)

// `neutrino server` and `neutrino agent l3` as processes: the agent
// registers, gets the router the server schedules to it, builds its
// qrouter- namespace (gateway and interface addresses, default route,
// SNAT, a floating IP's DNAT), reports the floating IP ACTIVE, and removes
// the namespace when the router goes. The node is a lab namespace
// (host_namespace), where the linuxbridge interface driver puts the taps.
func TestL3AgentCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test builds network namespaces and needs root: run `make test` (as root)")
	}
	ctx := context.Background()
	l, err := lab.New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var routerNS string
	defer func() {
		// The agent leaves routers in place when it stops (a restart
		// must not cut traffic): a failed test removes its router itself.
		if routerNS != "" && lab.NSExists(routerNS) {
			t.Errorf("%s left behind", routerNS)
			_ = lab.DeleteNS(routerNS)
		}
		if err := l.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	}()
	node, err := l.AddNode(ctx, "network")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	apiPort, rpcPort := freePort(t), freePort(t)
	conf := filepath.Join(dir, "neutron.conf")
	writeFile(t, conf, fmt.Sprintf(`[DEFAULT]
bind_host = 127.0.0.1
bind_port = %d
rpc_bind_host = 127.0.0.1
rpc_bind_port = %d
transport_url = grpc://127.0.0.1:%d
service_plugins = router
state_path = %s
host = network
host_namespace = %s
[agent]
report_interval = 1
[database]
connection = sqlite:///%s
[ml2]
type_drivers = vxlan,flat
tenant_network_types = vxlan
mechanism_drivers = linuxbridge
[ml2_type_flat]
flat_networks = public
[ml2_type_vxlan]
vni_ranges = 1001:2000
`, apiPort, rpcPort, rpcPort, filepath.Join(dir, "state"), node.NS, filepath.Join(dir, "neutrino.db")))
	ini := filepath.Join(dir, "l3_agent.ini")
	writeFile(t, ini, "[DEFAULT]\ninterface_driver = linuxbridge\n")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	up := exec.Command(self, "db", "upgrade", "head", "--config-file", conf)
	up.Env = append(os.Environ(), childEnv+"=1")
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("db upgrade: %v\n%s", err, out)
	}
	base := startServerProcess(t, conf, apiPort)
	startChild(t, "agent", "l3", "--config-file", conf, "--config-file", ini)

	c := &l3Client{t: t, base: base + "/v2.0"}
	waitFor(t, time.Minute, "the L3 agent registered", func() (bool, string) {
		var a struct{ Agents []map[string]any }
		c.do("GET", "agents?agent_type=L3+agent", nil, &a)
		return len(a.Agents) == 1 && a.Agents[0]["alive"] == true && a.Agents[0]["host"] == "network", fmt.Sprint(a.Agents)
	})
	var pub, net, sub, rtr, port, fip struct{ ID string }
	c.create("networks", `{"network":{"tenant_id":"p1","name":"public","router:external":true,"provider:network_type":"flat","provider:physical_network":"public"}}`, &pub)
	c.create("subnets", `{"subnet":{"tenant_id":"p1","network_id":"`+pub.ID+`","ip_version":4,"cidr":"198.18.200.0/24","enable_dhcp":false}}`, nil)
	c.create("networks", `{"network":{"tenant_id":"p1","name":"private"}}`, &net)
	c.create("subnets", `{"subnet":{"tenant_id":"p1","network_id":"`+net.ID+`","ip_version":4,"cidr":"192.168.1.0/24"}}`, &sub)
	c.create("routers", `{"router":{"tenant_id":"p1","name":"r1","external_gateway_info":{"network_id":"`+pub.ID+`","external_fixed_ips":[{"ip_address":"198.18.200.10"}]}}}`, &rtr)
	routerNS = l3.Namespace(rtr.ID)
	c.do("PUT", "routers/"+rtr.ID+"/add_router_interface", map[string]any{"subnet_id": sub.ID}, nil)
	c.create("ports", `{"port":{"tenant_id":"p1","network_id":"`+net.ID+`","fixed_ips":[{"ip_address":"192.168.1.20"}]}}`, &port)
	c.create("floatingips", `{"floatingip":{"tenant_id":"p1","floating_network_id":"`+pub.ID+`","floating_ip_address":"198.18.200.20","port_id":"`+port.ID+`"}}`, &fip)

	waitFor(t, time.Minute, "the floating IP ACTIVE", func() (bool, string) {
		var f struct{ Floatingip map[string]any }
		c.do("GET", "floatingips/"+fip.ID, nil, &f)
		return f.Floatingip["status"] == "ACTIVE", fmt.Sprint(f.Floatingip)
	})
	addrs := nsRun(t, routerNS, "ip", "-4", "-br", "addr")
	for _, want := range []string{"198.18.200.10/24", "198.18.200.20/32", "192.168.1.1/24"} {
		if !strings.Contains(addrs, want) {
			t.Errorf("%s lacks %s:\n%s", routerNS, want, addrs)
		}
	}
	if routes := nsRun(t, routerNS, "ip", "-4", "route"); !strings.Contains(routes, "default via 198.18.200.1 dev qg-") {
		t.Errorf("%s has no default route via the external gateway:\n%s", routerNS, routes)
	}
	nat := nsRun(t, routerNS, "nft", "list", "ruleset")
	for _, want := range []string{"ip daddr 198.18.200.20 dnat to 192.168.1.20", "snat to 198.18.200.10"} {
		if !strings.Contains(nat, want) {
			t.Errorf("%s's NAT lacks %q:\n%s", routerNS, want, nat)
		}
	}
	if taps := nsRun(t, node.NS, "ip", "-br", "link"); strings.Count(taps, "tap") != 2 {
		t.Errorf("the node holds %d taps, want the gateway's and the interface's:\n%s", strings.Count(taps, "tap"), taps)
	}

	c.do("DELETE", "floatingips/"+fip.ID, nil, nil)
	c.do("PUT", "routers/"+rtr.ID+"/remove_router_interface", map[string]any{"subnet_id": sub.ID}, nil)
	c.do("DELETE", "routers/"+rtr.ID, nil, nil)
	waitFor(t, time.Minute, routerNS+" removed", func() (bool, string) { return !lab.NSExists(routerNS), "" })
	if taps := nsRun(t, node.NS, "ip", "-br", "link"); strings.Contains(taps, "tap") {
		t.Errorf("taps left on the node after the router went:\n%s", taps)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func nsRun(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns exec %s %s: %v\n%s", ns, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// l3Client is the API, in noauth mode (tenant_id in the bodies).
type l3Client struct {
	t    *testing.T
	base string
}

func (c *l3Client) create(coll, body string, out any) {
	c.t.Helper()
	var m map[string]json.RawMessage
	c.do("POST", coll, json.RawMessage(body), &m)
	if out != nil {
		for _, v := range m {
			if err := json.Unmarshal(v, out); err != nil {
				c.t.Fatal(err)
			}
		}
	}
}

func (c *l3Client) do(method, path string, body, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+"/"+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}
