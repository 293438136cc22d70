package ovs

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"neutrino/internal/openflow"
)

// OpenFlow clients ([ovs] of_interface, Neutron's names).
const (
	// OFNative is our own persistent OpenFlow connection per bridge
	// (internal/openflow), the default.
	OFNative = "native"
	// OFOfctl starts one ovs-ofctl process per bundle, as before.
	OFOfctl = "ovs-ofctl"
)

// nativeFlows implements FlowClient with one persistent OpenFlow
// connection per bridge (internal/openflow), kept for the life of the
// data plane and closed by Close. Bundles parse the same add-flows lines
// ovs-ofctl would read, so both clients apply exactly the same flows;
// reading flows back stays with ovs-ofctl dump-flows (start, resync and
// audit only).
type nativeFlows struct {
	runDir string
	log    *slog.Logger
	dump   ofctl

	mu      sync.Mutex
	clients map[string]*openflow.Client
}

func newNativeFlows(runDir, ofctlPath string, log *slog.Logger) *nativeFlows {
	return &nativeFlows{runDir: runDir, log: log, dump: ofctl{runDir: runDir, path: ofctlPath}, clients: map[string]*openflow.Client{}}
}

func (n *nativeFlows) DumpFlows(ctx context.Context, bridge string) ([]Flow, error) {
	return n.dump.DumpFlows(ctx, bridge)
}

func (n *nativeFlows) Bundle(ctx context.Context, bridge string, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	mods := make([]*openflow.FlowMod, len(lines))
	for i, l := range lines {
		m, err := openflow.ParseFlowMod(l)
		if err != nil {
			return fmt.Errorf("bundle for %s: %w", bridge, err)
		}
		mods[i] = m
	}
	return n.client(bridge).Bundle(ctx, mods)
}

func (n *nativeFlows) client(bridge string) *openflow.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.clients[bridge]
	if c == nil {
		c = openflow.NewClient(filepath.Join(n.runDir, bridge+".mgmt"), openflow.Options{Logger: n.log.With("bridge", bridge)})
		n.clients[bridge] = c
	}
	return c
}

// Close ends every bridge's connection.
func (n *nativeFlows) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for br, c := range n.clients {
		_ = c.Close()
		delete(n.clients, br)
	}
	return nil
}
