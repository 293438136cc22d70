package dataplane

import (
	"crypto/sha1" // #nosec G505 -- Neutron's interface-name hash, not security
	"encoding/hex"
)

// DeviceNameMax is the longest Linux interface name (IFNAMSIZ - 1).
const DeviceNameMax = 15

// InterfaceName is Neutron's get_interface_name: prefix+name when it fits
// in maxLen characters, else prefix + the start of name + the first 6 hex
// digits of sha1(name), so that long names stay unique and recognisable.
// Both agents name devices with it (OVS patch ports int-/phy-<bridge>,
// Linux bridge VLAN subinterfaces <iface>.<vlan>).
func InterfaceName(prefix, name string, maxLen int) string {
	if len(prefix)+len(name) <= maxLen {
		return prefix + name
	}
	const hashLen = 6
	sum := sha1.Sum([]byte(name)) // #nosec G401 -- a name, as Neutron hashes it
	return prefix + name[:maxLen-len(prefix)-hashLen] + hex.EncodeToString(sum[:])[:hashLen]
}
