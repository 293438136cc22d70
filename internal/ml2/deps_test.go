package ml2

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoNetworkImports guards the boundary: ml2 and l2pop compute state and
// never touch the network, so neither they nor what they pull in link a
// netlink, namespace, OVSDB/OpenFlow or data-plane package.
func TestNoNetworkImports(t *testing.T) {
	for _, pkg := range []string{"neutrino/internal/ml2", "neutrino/internal/l2pop"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 2 {
			t.Fatalf("go list -deps %s listed %q", pkg, deps)
		}
		for _, dep := range deps {
			for _, banned := range []string{"github.com/vishvananda/netlink", "github.com/vishvananda/netns",
				"github.com/ovn-kubernetes/libovsdb", "github.com/gopacket/gopacket",
				"neutrino/internal/dataplane", "neutrino/internal/lab", "neutrino/internal/agent"} {
				if strings.HasPrefix(dep, banned) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
