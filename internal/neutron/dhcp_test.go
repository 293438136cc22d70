package neutron

import "testing"

// The expected UUIDs are Python's uuid.uuid5(uuid.NAMESPACE_DNS, host),
// what Neutron's get_dhcp_agent_device_id computes.
func TestDHCPDeviceID(t *testing.T) {
	for host, want := range map[string]string{
		"compute-1":           "dhcpa4759065-eb4f-5a46-96b0-019ee60cabef-net",
		"compute-1.example.":  "dhcpa4759065-eb4f-5a46-96b0-019ee60cabef-net",
		"node-6.cisco.com":    "dhcp7a15cee0-2af1-5441-b1dc-94897ef4dee9-net",
		"node-6":              "dhcp7a15cee0-2af1-5441-b1dc-94897ef4dee9-net",
		"compute-1.other.org": "dhcpa4759065-eb4f-5a46-96b0-019ee60cabef-net",
	} {
		if got := DHCPDeviceID(host, "net"); got != want {
			t.Errorf("DHCPDeviceID(%q) = %s, want %s", host, got, want)
		}
	}
}
