package neutron

import (
	"strings"

	"github.com/google/uuid"
)

// DHCPDeviceID is the device_id of the DHCP port of the agent on host for
// a network, formed as Neutron's DHCP agent forms it: "dhcp", the UUIDv5
// (DNS namespace) of the host name without its domain, "-", the network id.
// The scheduler creates ports with it; the DHCP agents' view finds an
// agent's own port by it.
func DHCPDeviceID(host, networkID string) string {
	local, _, _ := strings.Cut(host, ".")
	return "dhcp" + uuid.NewSHA1(uuid.NameSpaceDNS, []byte(local)).String() + "-" + networkID
}

// DeviceIDReservedDHCPPort is the device_id of a DHCP port no agent holds:
// the port of an agent a network was taken off, kept with its addresses
// and MAC for the next agent to host the network (Neutron's
// DEVICE_ID_RESERVED_DHCP_PORT).
const DeviceIDReservedDHCPPort = "reserved_dhcp_port"
