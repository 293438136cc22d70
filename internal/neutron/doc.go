// Package neutron owns the Neutron resource types (networks, subnets, ports,
// agents, segments) and Neutron's fault types. Every server layer speaks
// these: the API renders them, ml2/ipam compute them, the store persists them
// and the change log carries them to the agents' stream. The package has no
// I/O and imports nothing from the project.
package neutron
