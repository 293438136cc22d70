package main

import (
	"context"
	"fmt"

	"neutrino/internal/apiclient"
)

// Security groups: every port the workload makes is in the project's
// default group (members reach each other, egress open). setupSecurity
// adds the one rule the probes need beyond it, echo requests from the
// outside network to the floating IP; sgStep adds and removes TCP rules
// on the default group, so the firewalls keep changing under the faults
// and the audit has rule sets to find lost or stale.

type sgRule struct {
	ID              string `json:"id,omitempty"`
	TenantID        string `json:"tenant_id,omitempty"`
	SecurityGroupID string `json:"security_group_id"`
	Direction       string `json:"direction"`
	Ethertype       string `json:"ethertype"`
	Protocol        string `json:"protocol,omitempty"`
	PortRangeMin    *int   `json:"port_range_min,omitempty"`
	PortRangeMax    *int   `json:"port_range_max,omitempty"`
	RemoteIPPrefix  string `json:"remote_ip_prefix,omitempty"`
	Description     string `json:"description,omitempty"`
}

// setupSecurity finds the project's default group (a listing creates it,
// as Neutron's does) and lets the outside ping the floating IP.
func (w *workload) setupSecurity(ctx context.Context) error {
	err := w.call(ctx, "default security group", func(a *apiclient.Client) error {
		var out struct {
			SecurityGroups []struct{ ID string } `json:"security_groups"`
		}
		if err := a.Do(ctx, "GET", "/v2.0/security-groups?name=default&tenant_id="+project, nil, &out); err != nil {
			return err
		}
		if len(out.SecurityGroups) != 1 {
			return fmt.Errorf("project %s has %d default groups", project, len(out.SecurityGroups))
		}
		w.sg = out.SecurityGroups[0].ID
		return nil
	}, nil)
	if err != nil {
		return err
	}
	_, err = w.addRule(ctx, sgRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "icmp", RemoteIPPrefix: publicCIDR.String(),
		Description: "chaos: the outside pings the floating IP"})
	return err
}

// addRule creates r in the default group; a retried create first looks
// for a rule with r's description (unique per rule).
func (w *workload) addRule(ctx context.Context, r sgRule) (string, error) {
	r.SecurityGroupID, r.TenantID = w.sg, project
	var id string
	err := w.call(ctx, "create security group rule", func(a *apiclient.Client) error {
		var out struct {
			Rule sgRule `json:"security_group_rule"`
		}
		err := a.Do(ctx, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": r}, &out)
		id = out.Rule.ID
		return err
	}, func(a *apiclient.Client) bool {
		var out struct {
			Rules []sgRule `json:"security_group_rules"`
		}
		if a.Do(ctx, "GET", "/v2.0/security-group-rules?security_group_id="+w.sg, nil, &out) != nil {
			return false
		}
		for _, x := range out.Rules {
			if x.Description == r.Description {
				id = x.ID
				return true
			}
		}
		return false
	})
	return id, err
}

// sgStep adds a TCP rule (up to 4 live) or removes the oldest.
func (w *workload) sgStep(ctx context.Context) (string, error) {
	w.mu.Lock()
	add := len(w.sgRules) < 2 || len(w.sgRules) < 4 && w.r.IntN(2) == 0
	w.seq++
	n := w.seq
	port := 1000 + n%60000
	var gone string
	if !add {
		gone, w.sgRules = w.sgRules[0], w.sgRules[1:]
	}
	w.mu.Unlock()
	if !add {
		return "delete security group rule", w.call(ctx, "delete security group rule", func(a *apiclient.Client) error {
			return a.Do(ctx, "DELETE", "/v2.0/security-group-rules/"+gone, nil, nil)
		}, nil)
	}
	id, err := w.addRule(ctx, sgRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "tcp", PortRangeMin: &port, PortRangeMax: &port,
		RemoteIPPrefix: "10.0.0.0/8", Description: fmt.Sprintf("chaos rule %d", n)})
	if err == nil {
		w.mu.Lock()
		w.sgRules = append(w.sgRules, id)
		w.mu.Unlock()
	}
	return "create security group rule", err
}
