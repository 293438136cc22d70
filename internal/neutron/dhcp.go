package neutron

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"
)

// nameSpaceDNS is RFC 4122's namespace for DNS names (Python's
// uuid.NAMESPACE_DNS).
var nameSpaceDNS = [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// DHCPDeviceID is the device_id of the DHCP port of the agent on host for
// a network, formed as Neutron's DHCP agent forms it: "dhcp", the UUIDv5
// (DNS namespace) of the host name without its domain, "-", the network id.
// The scheduler creates ports with it; the DHCP agents' view finds an
// agent's own port by it. (UUIDv5 is written out here rather than taken
// from google/uuid, whose database/sql support the agents must not link.)
func DHCPDeviceID(host, networkID string) string {
	local, _, _ := strings.Cut(host, ".")
	h := sha1.New()
	h.Write(nameSpaceDNS[:])
	h.Write([]byte(local))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	x := hex.EncodeToString(u)
	return "dhcp" + x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32] + "-" + networkID
}
