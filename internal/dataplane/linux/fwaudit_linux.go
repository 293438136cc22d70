package linux

import (
	"fmt"
	"strings"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/nftfw"
)

// FirewallDifferences compares the nftables firewall that namespace netns
// holds with the one desired asks for (security groups, anti-spoofing, the
// underlay filter) and returns, for each difference, the first line of the
// nft operation that would converge it; none when they agree. It plans
// against what it read, as an agent's first Apply after a restart does, so
// a firewall in step needs no operation. It changes nothing. Chains are
// compared by the checksum the Applier keeps in their last rule.
func FirewallDifferences(netns string, desired dataplane.NodeState) ([]string, error) {
	held, err := nftfw.NewApplier(netns, nil).Read()
	if err != nil {
		return nil, fmt.Errorf("read the firewall of %s: %w", netns, err)
	}
	want, err := nftfw.Plan(firewallInput(desired), held)
	if err != nil {
		return nil, fmt.Errorf("plan the firewall of %s: %w", netns, err)
	}
	var out []string
	for _, op := range nftfw.Diff(held, want) {
		first, _, _ := strings.Cut(op.String(), "\n")
		out = append(out, first)
	}
	return out, nil
}
