package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadL3Agent(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conf := write("neutron.conf", "[DEFAULT]\nhost = controller\nstate_path = /srv/neutron\ntransport_url = grpc://127.0.0.1:9697\n[agent]\nreport_interval = 5\n")
	// Debian's l3_agent.ini as installed (the seed's interface driver).
	ini := write("l3_agent.ini", "[DEFAULT]\novs_use_veth = False\ninterface_driver = openvswitch\n[agent]\n[network_log]\n[ovs]\n")
	c, warnings, err := LoadL3Agent(conf, ini)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		t.Errorf("unexpected warning: %s", w)
	}
	if c.Host != "controller" || c.InterfaceDriver != "openvswitch" || c.RoutersDir != "/srv/neutron/l3" || c.SendARPForHA != 3 ||
		c.IntegrationBridge != "br-int" || c.OVSDBConnection != "unix:/var/run/openvswitch/db.sock" || c.ReportInterval.Seconds() != 5 {
		t.Errorf("got %+v", c)
	}

	ini = write("l3_agent.ini", "[DEFAULT]\ninterface_driver = neutron.agent.linux.interface.BridgeInterfaceDriver\nsend_arp_for_ha = 0\n")
	if c, _, err = LoadL3Agent(conf, ini); err != nil || c.InterfaceDriver != "linuxbridge" || c.SendARPForHA != 0 {
		t.Errorf("linuxbridge: %+v %v", c, err)
	}

	for body, want := range map[string]string{
		"[DEFAULT]\ninterface_driver = openvswitch\nexternal_network_bridge = br-ex\n": "external_network_bridge",
		"[DEFAULT]\ninterface_driver = openvswitch\nagent_mode = dvr\n":                "agent_mode",
		"[DEFAULT]\ninterface_driver = openvswitch\nagent_mode = dvr_snat\n":           "legacy (centralized) routers only",
		"[DEFAULT]\ninterface_driver = openvswitch\nagent_mode = dvr_no_external\n":    "agent_mode = legacy",
		"[DEFAULT]\ninterface_driver = noop\n":                                         "interface_driver",
	} {
		_, _, err := LoadL3Agent(conf, write("l3_agent.ini", body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want one about %s", body, err, want)
		}
	}
}
