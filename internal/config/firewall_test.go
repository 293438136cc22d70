package config

import (
	"strings"
	"testing"
)

func TestFirewallDriver(t *testing.T) {
	const lbBase = "[vxlan]\nlocal_ip = 198.18.0.1\n"
	const ovsBase = "[ovs]\nlocal_ip = 198.18.0.1\n"
	for _, tc := range []struct {
		kind, conf, want, err string
	}{
		{"linuxbridge", "", "noop", ""},
		{"linuxbridge", "[securitygroup]\nfirewall_driver = iptables\n", "iptables", ""},
		{"linuxbridge", "[securitygroup]\nfirewall_driver = neutron.agent.linux.iptables_firewall.IptablesFirewallDriver\n", "iptables", ""},
		{"linuxbridge", "[securitygroup]\nfirewall_driver = iptables\nenable_security_group = false\n", "noop", ""},
		{"linuxbridge", "[securitygroup]\nfirewall_driver = openvswitch\n", "", "openvswitch is not a firewall driver of this agent"},
		{"linuxbridge", "[securitygroup]\nfirewall_driver = bogus\n", "", "unknown firewall driver"},
		{"openvswitch", "[securitygroup]\nfirewall_driver = openvswitch\n", "openvswitch", ""},
		{"openvswitch", "[securitygroup]\nfirewall_driver = neutron.agent.linux.openvswitch_firewall.OVSFirewallDriver\n", "openvswitch", ""},
		{"openvswitch", "[securitygroup]\nfirewall_driver = iptables_hybrid\n", "iptables_hybrid", ""},
		{"openvswitch", "[SECURITYGROUP]\nfirewall_driver = neutron.agent.firewall.NoopFirewallDriver\n", "noop", ""},
		{"openvswitch", "[securitygroup]\nfirewall_driver = iptables\n", "", "iptables is not a firewall driver of this agent"},
	} {
		base := lbBase
		if tc.kind == "openvswitch" {
			base = ovsBase
		}
		c, warns, err := LoadAgent(tc.kind, write(t, [2]string{"a.ini", base + tc.conf})...)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %q: error %v, want %q", tc.kind, tc.conf, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s %q: %v", tc.kind, tc.conf, err)
		case c.FirewallDriver != tc.want || len(warns) != 0:
			t.Errorf("%s %q: driver %q (warnings %v), want %q", tc.kind, tc.conf, c.FirewallDriver, warns, tc.want)
		}
	}
}
