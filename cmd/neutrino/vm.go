package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"neutrino/internal/apiclient"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"

	"github.com/google/uuid"
)

// vmCmd is the seed's `nova boot` / `nova list` / `nova delete` for lab
// hosts: a "VM" is a network namespace plugged into a host's namespace the
// way Nova plugs a VIF, its port created through the Neutron API with
// binding:host_id, device_owner compute:nova and device_id = the instance
// uuid. Which namespace is which host comes from the lab state file
// (lab.State, <state dir>/lab.json), written by `neutrino demo` or a test.
func vmCmd(logger *slog.Logger) *cobra.Command {
	var co clientOpts
	var stateDir string
	root := &cobra.Command{Use: "vm", Short: "Boot, list and delete lab VMs (network namespaces) like nova"}
	addClientFlags(root, &co)
	root.PersistentFlags().StringVar(&stateDir, "state-dir", "", "lab state directory (NEUTRINO_STATE_DIR, default "+lab.DefaultStateDir+")")

	client := func() *apiclient.Client {
		c := co.client()
		if c.Roles == "" {
			// Nova sets binding:host_id with service (admin) credentials.
			c.Roles, c.UserID = "admin", "nova"
		}
		return c
	}

	var b bootOpts
	boot := &cobra.Command{Use: "boot", Short: "Create a port bound to HOST and plug a VM namespace into HOST", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return vmBoot(cmd.Context(), logger, cmd.OutOrStdout(), client(), lab.StateDir(stateDir), b)
		}}
	boot.Flags().StringVar(&b.network, "network", "", "network name or id (required)")
	boot.Flags().StringVar(&b.host, "host", "", "lab host to boot on (required)")
	boot.Flags().StringVar(&b.name, "name", "", "VM name (default vm-<id>; with --count N, NAME-1..NAME-N)")
	boot.Flags().IntVar(&b.count, "count", 1, "number of VMs")
	boot.Flags().DurationVar(&b.timeout, "timeout", 60*time.Second, "how long to wait for the port to become ACTIVE")
	_ = boot.MarkFlagRequired("network")
	_ = boot.MarkFlagRequired("host")

	list := &cobra.Command{Use: "list", Short: "List lab VMs like `nova list`", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return vmList(cmd.Context(), cmd.OutOrStdout(), client(), lab.StateDir(stateDir))
		}}
	del := &cobra.Command{Use: "delete NAME_OR_ID...", Short: "Delete lab VMs (port and namespace)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return vmDelete(cmd.Context(), logger, client(), lab.StateDir(stateDir), args)
		}}
	root.AddCommand(boot, list, del)
	return root
}

type bootOpts struct {
	network, host, name string
	count               int
	timeout             time.Duration
}

// vmNames follows Nova: one VM is NAME (or vm-<uuid>), several are
// NAME-1..NAME-N.
func vmNames(name string, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		switch {
		case name == "":
			out[i] = "vm-" + id
		case len(ids) == 1:
			out[i] = name
		default:
			out[i] = fmt.Sprintf("%s-%d", name, i+1)
		}
	}
	return out
}

func resolveNetwork(ctx context.Context, c *apiclient.Client, ref string) (*neutron.Network, error) {
	n, err := c.GetNetwork(ctx, ref)
	if err == nil {
		return n, nil
	}
	if e, ok := neutron.AsError(err); !ok || e.Status != 404 {
		return nil, err
	}
	nets, err := c.ListNetworks(ctx, apiclient.Query("name", ref))
	if err != nil {
		return nil, err
	}
	switch len(nets) {
	case 0:
		return nil, fmt.Errorf("no network with a name or ID of %q exists", ref)
	case 1:
		return &nets[0], nil
	}
	return nil, fmt.Errorf("more than one network exists with the name %q", ref)
}

func vmBoot(ctx context.Context, log *slog.Logger, w io.Writer, c *apiclient.Client, stateDir string, b bootOpts) error {
	if b.count < 1 {
		return errors.New("--count must be at least 1")
	}
	st, err := lab.ReadState(stateDir)
	if err != nil {
		return err
	}
	host, ok := st.Hosts[b.host]
	if !ok {
		return fmt.Errorf("host %q is not in the lab (%s): hosts are %s", b.host, stateDir, strings.Join(vmSortedKeys(st.Hosts), ", "))
	}
	net, err := resolveNetwork(ctx, c, b.network)
	if err != nil {
		return err
	}
	ids := make([]string, b.count)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	names := vmNames(b.name, ids)
	var rows []vmRow
	for i, id := range ids {
		rec := lab.VMRecord{Name: names[i], Host: b.host, Namespace: st.Prefix + "-vm-" + id}
		// Nova creates the port in the instance's project; without one
		// given, the lab's VM belongs to the network's project.
		project := c.ProjectID
		if project == "" {
			project = net.ProjectID
		}
		port, err := c.CreatePort(ctx, neutron.PortCreate{ProjectID: project, NetworkID: net.ID, DeviceID: id,
			DeviceOwner: "compute:nova", HostID: b.host})
		if err != nil {
			return fmt.Errorf("boot %s: create port: %w", names[i], err)
		}
		rec.PortID = port.ID
		if err := plugPort(ctx, host, rec, id, net, port); err != nil {
			return errors.Join(fmt.Errorf("boot %s: %w", names[i], err), c.DeletePort(context.WithoutCancel(ctx), port.ID))
		}
		if err := lab.UpdateState(stateDir, func(s *lab.State) error {
			if s.VMs == nil {
				s.VMs = map[string]lab.VMRecord{}
			}
			s.VMs[id] = rec
			return nil
		}); err != nil {
			return err
		}
		log.Info("vm plugged", "vm", names[i], "id", id, "port", port.ID, "host", b.host, "netns", rec.Namespace)
		rows = append(rows, vmRow{ID: id, Name: names[i], Host: b.host, Status: "BUILD", Power: "Running", Networks: netIPs(net.Name, port)})
	}
	// Wait until the agents report the ports up (port ACTIVE), then let
	// each VM ask for its address by DHCP, as cirros does at boot.
	wctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var errs []error
	for i := range rows {
		st, _ := lab.ReadState(stateDir)
		rec := st.VMs[rows[i].ID]
		status, err := waitActive(wctx, c, rec.PortID)
		rows[i].Status = status
		if err != nil {
			errs = append(errs, fmt.Errorf("vm %s: port still %s: %w", rows[i].Name, status, err))
			continue
		}
		l, err := lab.DHCPOnce(wctx, rec.Namespace, "eth0", vmLeaseDir(stateDir, rows[i].ID))
		if err != nil {
			errs = append(errs, fmt.Errorf("vm %s: no address by DHCP (is a DHCP agent hosting the network?): %w", rows[i].Name, err))
			continue
		}
		rows[i].DHCP = l.String()
		log.Info("vm got its address by DHCP", "vm", rows[i].Name, "lease", l.String(), "server", l.ServerID)
		if err := lab.UpdateState(stateDir, func(s *lab.State) error {
			if r, ok := s.VMs[rows[i].ID]; ok {
				r.DHCP = &l
				s.VMs[rows[i].ID] = r
			}
			return nil
		}); err != nil {
			errs = append(errs, err)
		}
	}
	printVMs(w, rows)
	return errors.Join(errs...)
}

// vmLeaseDir holds a VM's DHCP client script and lease file.
func vmLeaseDir(stateDir, id string) string { return filepath.Join(stateDir, "dhcp", id) }

// plugPort plugs the VM namespace into the host the way Nova's VIF driver
// for the host's mechanism does. The VM's interface is left without an
// address: the VM asks for it by DHCP.
func plugPort(ctx context.Context, host lab.Host, rec lab.VMRecord, instance string, net *neutron.Network, port *neutron.Port) error {
	if len(port.FixedIPs) == 0 {
		return errors.New("port has no fixed IP (the network needs an IPv4 subnet)")
	}
	vif := lab.VIF{PortID: port.ID, MAC: port.MACAddress, MTU: net.MTU, DHCP: true}
	switch host.Mechanism {
	case "", "linuxbridge":
		// The tap is left for the Linux bridge agent to find and enslave.
		return lab.PlugVIF(ctx, host.Namespace, rec.Namespace, vif)
	case "openvswitch":
		if err := lab.PlugVIF(ctx, host.Namespace, rec.Namespace, vif); err != nil {
			return err
		}
		tap := lab.TapName(port.ID)
		ovs := &lab.OVS{Namespace: host.Namespace, RunDir: host.OVSRunDir}
		// With ovs_hybrid_plug (firewall_driver = iptables_hybrid) os-vif
		// puts the tap on a qbr bridge and plugs its qvo veth into br-int.
		if port.OVSHybridPlug() {
			qvo, err := lab.PlugHybrid(ctx, host.Namespace, port.ID, net.MTU)
			if err != nil {
				return errors.Join(err, lab.UnplugVIF(ctx, host.Namespace, rec.Namespace, port.ID))
			}
			tap = qvo
		}
		// os-vif's OVS plug: the port on br-int with the external_ids the
		// OVS agent looks for.
		if out, err := ovs.Vsctl(ctx, "--may-exist", "add-port", "br-int", tap, "--", "set", "Interface", tap,
			"external_ids:iface-id="+port.ID, "external_ids:attached-mac="+port.MACAddress,
			"external_ids:iface-status=active", "external_ids:vm-uuid="+instance); err != nil {
			return errors.Join(fmt.Errorf("ovs add-port: %w: %s", err, out), lab.UnplugHybrid(ctx, host.Namespace, port.ID),
				lab.UnplugVIF(ctx, host.Namespace, rec.Namespace, port.ID))
		}
		// The userspace (netdev) datapath does not complete checksums or
		// segment TSO frames from a veth: without this, ping works but TCP
		// inside the VM is dropped.
		if err := lab.DisableOffloads(ctx, rec.Namespace, "eth0"); err != nil {
			return errors.Join(err, lab.UnplugVIF(ctx, host.Namespace, rec.Namespace, port.ID))
		}
		return nil
	}
	return fmt.Errorf("host mechanism %q: want linuxbridge or openvswitch", host.Mechanism)
}

func waitActive(ctx context.Context, c *apiclient.Client, portID string) (string, error) {
	status := "BUILD"
	for {
		p, err := c.GetPort(ctx, portID)
		if err == nil {
			status = p.Status
			if status == "ACTIVE" {
				return status, nil
			}
		}
		select {
		case <-ctx.Done():
			return status, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// vmRow is one line of `vm list`, the columns of the seed's
// `nova list --fields name,status,power_state,host,networks`.
type vmRow struct {
	ID, Name, Status, Power, Host, Networks string
	// DHCP is what the VM got by DHCP (address, router, MTU, DNS).
	DHCP string
}

func netIPs(netName string, p *neutron.Port) string {
	var ips []string
	for _, f := range p.FixedIPs {
		ips = append(ips, f.IPAddress)
	}
	return netName + "=" + strings.Join(ips, ", ")
}

func vmList(ctx context.Context, w io.Writer, c *apiclient.Client, stateDir string) error {
	st, err := lab.ReadState(stateDir)
	if err != nil {
		return err
	}
	netNames := map[string]string{}
	var rows []vmRow
	for id, rec := range st.VMs {
		r := vmRow{ID: id, Name: rec.Name, Host: rec.Host, Status: "ERROR", Power: "Shutdown"}
		if rec.DHCP != nil {
			r.DHCP = rec.DHCP.String()
		}
		if lab.NSExists(rec.Namespace) {
			r.Power = "Running"
		}
		p, err := c.GetPort(ctx, rec.PortID)
		if err != nil {
			if e, ok := neutron.AsError(err); !ok || e.Status != 404 {
				return err
			}
		} else {
			// Nova's instance is ACTIVE once Neutron says the VIF is plugged.
			r.Status = map[bool]string{true: "ACTIVE", false: "BUILD"}[p.Status == "ACTIVE"]
			name, ok := netNames[p.NetworkID]
			if !ok {
				if n, err := c.GetNetwork(ctx, p.NetworkID); err == nil {
					name = n.Name
				}
				netNames[p.NetworkID] = name
			}
			r.Networks = netIPs(name, p)
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	printVMs(w, rows)
	return nil
}

func vmDelete(ctx context.Context, log *slog.Logger, c *apiclient.Client, stateDir string, refs []string) error {
	st, err := lab.ReadState(stateDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, ref := range refs {
		var ids []string
		for id, rec := range st.VMs {
			if id == ref || rec.Name == ref {
				ids = append(ids, id)
			}
		}
		if len(ids) != 1 {
			errs = append(errs, fmt.Errorf("vm %q: %d matches", ref, len(ids)))
			continue
		}
		id := ids[0]
		rec := st.VMs[id]
		host := st.Hosts[rec.Host]
		if host.Mechanism == "openvswitch" {
			ovs := &lab.OVS{Namespace: host.Namespace, RunDir: host.OVSRunDir}
			_, _, qvo := lab.HybridNames(rec.PortID)
			for _, dev := range []string{lab.TapName(rec.PortID), qvo} {
				if out, err := ovs.Vsctl(ctx, "--if-exists", "del-port", "br-int", dev); err != nil {
					errs = append(errs, fmt.Errorf("vm %s: ovs del-port: %w: %s", rec.Name, err, out))
				}
			}
			if err := lab.UnplugHybrid(ctx, host.Namespace, rec.PortID); err != nil {
				errs = append(errs, fmt.Errorf("vm %s: %w", rec.Name, err))
			}
		}
		if err := lab.UnplugVIF(ctx, host.Namespace, rec.Namespace, rec.PortID); err != nil {
			errs = append(errs, fmt.Errorf("vm %s: %w", rec.Name, err))
		}
		if err := os.RemoveAll(vmLeaseDir(stateDir, id)); err != nil {
			errs = append(errs, err)
		}
		if err := c.DeletePort(ctx, rec.PortID); err != nil {
			if e, ok := neutron.AsError(err); !ok || e.Status != 404 {
				errs = append(errs, fmt.Errorf("vm %s: delete port: %w", rec.Name, err))
			}
		}
		if err := lab.UpdateState(stateDir, func(s *lab.State) error { delete(s.VMs, id); return nil }); err != nil {
			errs = append(errs, err)
		}
		log.Info("vm deleted", "vm", rec.Name, "id", id)
	}
	return errors.Join(errs...)
}

// printVMs prints rows as the seed's `nova list` table.
func printVMs(w io.Writer, rows []vmRow) {
	cells := make([][]string, 0, len(rows))
	for _, r := range rows {
		cells = append(cells, []string{r.ID, r.Name, r.Status, r.Power, r.Host, r.Networks, r.DHCP})
	}
	table(w, []string{"ID", "Name", "Status", "Power State", "Host", "Networks", "DHCP lease"}, cells, true)
}

func vmSortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
