//go:build !linux

package ovs

import (
	"context"
	"errors"
	"log/slog"

	"neutrino/internal/dataplane"
)

type noPorts struct{}

func newPortFirewall(string, *slog.Logger) portFirewall { return noPorts{} }

func (noPorts) apply(context.Context, dataplane.NodeState) (int, error) {
	return 0, errors.New("ovs: firewall_driver iptables_hybrid needs Linux (nftables)")
}

func (noPorts) resync() {}
