package demo

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"

	"neutrino/internal/dataplane/nftfw"
	"neutrino/internal/lab"
)

// SecGroupPing is one counted ping of the security-group step.
type SecGroupPing struct {
	// Rule says whether the ICMP rule was in the default group.
	Rule bool
	// Sent and Received are ping's own counts.
	Sent, Received int
	// Dropped is the packet counter of the final drop of the VM port's
	// ingress rules chain on its node (nftables), after the ping. The
	// rule rewrites that chain, so its counter starts again from 0.
	Dropped int
}

var (
	pingCounts = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
	gotoChain  = regexp.MustCompile(`goto (\S+)`)
	dropCount  = regexp.MustCompile(`counter packets (\d+) bytes \d+ drop`)
)

// droppedAt reads the drop counter of the chain of vm's ingress rules.
func (d *runner) droppedAt(ctx context.Context, vm VMInfo) (chain string, n int, err error) {
	ns := d.nodes[vm.Host].NS
	out, err := lab.Exec(ctx, ns, "nft", "list", "chain", "inet", nftfw.TableName, "ingress-"+lab.TapName(vm.PortID))
	if err != nil {
		return "", 0, err
	}
	m := gotoChain.FindStringSubmatch(string(out))
	if m == nil {
		return "", 0, fmt.Errorf("no rules chain for %s's port", vm.Name)
	}
	if out, err = lab.Exec(ctx, ns, "nft", "list", "chain", "inet", nftfw.TableName, m[1]); err != nil {
		return "", 0, err
	}
	c := dropCount.FindStringSubmatch(string(out))
	if c == nil {
		return "", 0, fmt.Errorf("no drop counter in %s", m[1])
	}
	n, _ = strconv.Atoi(c[1])
	return m[1], n, nil
}

// secGroupStep shows security groups at work on the VM port, on either
// mechanism (the Linux bridge agent's iptables driver filters on the tap,
// the seed's iptables_hybrid on the OVS VM's qbr bridge; both with
// nftables in the VM's node). The VMs are in their project's default
// group, which admits traffic only from its members; the router
// namespace's port is trusted (Neutron never filters
// network:router_interface ports) but no member, so its pings are dropped
// at the VM until a rule in the default group admits ICMP, and dropped
// again once the rule is deleted. The rule is then created again: the
// seed's steps after this one ping from the router namespace.
func (d *runner) secGroupStep(ctx context.Context) error {
	vm := d.res.VMs[0]
	var groups struct {
		SecurityGroups []struct {
			ID string `json:"id"`
		} `json:"security_groups"`
	}
	q := url.Values{"name": {"default"}, "project_id": {projectID}}
	if err := d.api.Do(ctx, "GET", "/v2.0/security-groups?"+q.Encode(), nil, &groups); err != nil {
		return fmt.Errorf("list the default security group: %w", err)
	}
	if len(groups.SecurityGroups) != 1 {
		return fmt.Errorf("project %s has %d default security groups, want 1", projectID, len(groups.SecurityGroups))
	}
	sg := groups.SecurityGroups[0].ID
	once := func() bool {
		_, err := lab.Exec(ctx, d.router.Namespace, "ping", "-n", "-c", "1", "-W", "1", vm.IP)
		return err == nil
	}
	// enforced waits until the node has converged to rule (a ping is
	// answered exactly when the ICMP rule is in), then counts three pings
	// and the drops they caused.
	enforced := func(rule bool) error {
		what := map[bool]string{false: "the default group (no ICMP rule)", true: "the ICMP rule"}[rule]
		if err := poll(ctx, what+" enforced on "+vm.Name, waitPlane, func() (bool, string) {
			return once() == rule, map[bool]string{false: "ping still answered", true: "ping not answered"}[rule]
		}); err != nil {
			return err
		}
		out, _ := lab.Exec(ctx, d.router.Namespace, "ping", "-n", "-c", "3", "-i", "0.3", "-W", "1", vm.IP)
		m := pingCounts.FindStringSubmatch(string(out))
		if m == nil {
			return fmt.Errorf("ping %s: no statistics in %q", vm.IP, out)
		}
		p := SecGroupPing{Rule: rule}
		p.Sent, _ = strconv.Atoi(m[1])
		p.Received, _ = strconv.Atoi(m[2])
		chain, dropped, err := d.droppedAt(ctx, vm)
		if err != nil {
			return err
		}
		p.Dropped = dropped
		d.res.SecGroup = append(d.res.SecGroup, p)
		d.say("[root@controller ~]# ip netns exec %s ping -c 3 %s\n    %d packets transmitted, %d received\n", d.router.Namespace, vm.IP, p.Sent, p.Received)
		d.say("[root@%s ~]# nft list chain inet %s %s   (the final drop's counter)\n    counter packets %d\n", vm.Host, nftfw.TableName, chain, p.Dropped)
		return nil
	}
	createRule := func() (string, error) {
		body := map[string]any{"security_group_rule": map[string]any{"project_id": projectID, "security_group_id": sg,
			"direction": "ingress", "ethertype": "IPv4", "protocol": "icmp"}}
		var created struct {
			Rule struct {
				ID string `json:"id"`
			} `json:"security_group_rule"`
		}
		if err := d.api.Do(ctx, "POST", "/v2.0/security-group-rules", body, &created); err != nil {
			return "", fmt.Errorf("create the ICMP rule: %w", err)
		}
		d.say("$ openstack security group rule create --ingress --protocol icmp default -> %s\n", created.Rule.ID)
		return created.Rule.ID, nil
	}
	d.say("%s (%s, on %s) is in the default group %s: ingress only from the group's members.\n", vm.Name, vm.IP, vm.Host, sg)
	d.say("The router namespace's port is no member, so its pings are dropped at %s's port:\n", vm.Name)
	if err := enforced(false); err != nil {
		return err
	}
	rule, err := createRule()
	if err != nil {
		return err
	}
	if err := enforced(true); err != nil {
		return err
	}
	d.say("(The rule rewrote %s's rules chain in one transaction, so its drop counter started again.)\n", vm.Name)
	if err := d.api.Do(ctx, "DELETE", "/v2.0/security-group-rules/"+rule, nil, nil); err != nil {
		return fmt.Errorf("delete the ICMP rule: %w", err)
	}
	d.say("$ openstack security group rule delete %s\n", rule)
	if err := enforced(false); err != nil {
		return err
	}
	d.say("The next steps ping from the router namespace, so the rule goes back in:\n")
	_, err = createRule()
	return err
}
