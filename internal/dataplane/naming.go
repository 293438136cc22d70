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

// DeviceName is how Neutron names a device after a port or network: the
// prefix ("tap", "brq", "qr-", "qg-", "ns-") and the id's first 11
// characters, at most 14 characters in all. Every agent, the lab and trace
// name devices with it (or with TapName and BridgeName).
func DeviceName(prefix, id string) string {
	if len(id) > 11 {
		id = id[:11]
	}
	return prefix + id
}

// TapName is a port's host-side device, as Nova/os-vif and Neutron's
// agents name it: "tap" + the port id's first 11 characters.
func TapName(portID string) string { return DeviceName("tap", portID) }

// BridgeName is the Linux bridge agent's bridge of a network: "brq" + the
// network id's first 11 characters.
func BridgeName(networkID string) string { return DeviceName("brq", networkID) }

// VIF is a device to plug into the integration bridge for a Neutron port
// (os-vif's external_ids iface-id and attached-mac), as the DHCP and L3
// agents' OVS interface drivers do.
type VIF struct{ Dev, PortID, MAC string }
