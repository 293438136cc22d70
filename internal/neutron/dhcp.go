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
