package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"neutron.conf", "dhcp_agent.ini"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestLoadDHCPAgent(t *testing.T) {
	paths := writeFiles(t, map[string]string{
		"neutron.conf": "[DEFAULT]\nhost = controller\nstate_path = /srv/neutron\ntransport_url = grpc://127.0.0.1:9697\n" +
			"dhcp_lease_duration = 600\ndns_domain = example.org\n[ovs]\nlocal_ip = 198.18.0.101\n",
		"dhcp_agent.ini": "[DEFAULT]\ninterface_driver = neutron.agent.linux.interface.OVSInterfaceDriver  # as Neutron\n" +
			"dnsmasq_dns_servers = 198.18.0.53, 198.18.0.54\nenable_isolated_metadata = True\n" +
			"[ovs]\novsdb_connection = unix:/run/ovs/db.sock\n",
	})
	c, warnings, err := LoadDHCPAgent(paths...)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		t.Errorf("unexpected warning: %s", w)
	}
	got := struct {
		Host, Driver, State, Confs, Domain, OVSDB, Bridge string
		DNS                                               []string
		Lease, Max                                        int
		Isolated                                          bool
	}{c.Host, c.InterfaceDriver, c.StatePath, c.ConfsDir, c.DNSDomain, c.OVSDBConnection, c.IntegrationBridge,
		c.DNSServers, c.LeaseDuration, c.LeaseMax, c.EnableIsolatedMetadata}
	want := got
	want.Host, want.Driver, want.State, want.Confs, want.Domain = "controller", "openvswitch", "/srv/neutron", "/srv/neutron/dhcp", "example.org"
	want.OVSDB, want.Bridge, want.DNS, want.Lease, want.Max, want.Isolated = "unix:/run/ovs/db.sock", "br-int", []string{"198.18.0.53", "198.18.0.54"}, 600, 1<<24, true
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}

	// Defaults, the short driver name, and the L2 agents' options in
	// neutron.conf pass without a word.
	paths = writeFiles(t, map[string]string{"neutron.conf": "[DEFAULT]\nhost = net1\n[agent]\nl2_population = true\n",
		"dhcp_agent.ini": "[DEFAULT]\ninterface_driver = linuxbridge\n"})
	c, warnings, err = LoadDHCPAgent(paths...)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("LoadDHCPAgent: %v %v", err, warnings)
	}
	if c.InterfaceDriver != "linuxbridge" || c.LeaseDuration != 86400 || c.DNSDomain != "openstacklocal" ||
		c.ConfsDir != "/var/lib/neutrino/dhcp" || c.OVSDBConnection != "" {
		t.Fatalf("defaults: %+v", c)
	}

	for _, bad := range []struct{ ini, want string }{
		{"[DEFAULT]\n", "interface_driver"},
		{"[DEFAULT]\ninterface_driver = neutron.agent.linux.interface.NullDriver\n", "interface_driver"},
		{"[DEFAULT]\ninterface_driver = linuxbridge\ndhcp_lease_duration = 0\n", "dhcp_lease_duration"},
	} {
		paths = writeFiles(t, map[string]string{"neutron.conf": "[DEFAULT]\nhost = x\n", "dhcp_agent.ini": bad.ini})
		if _, _, err := LoadDHCPAgent(paths...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err %v, want one naming %s", bad.ini, err, bad.want)
		}
	}
}
