package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"neutrino/internal/apiclient"
	"neutrino/internal/neutron"
)

// clientOpts are the connection flags shared by the client verbs.
type clientOpts struct {
	url, project, roles, format string
}

func (o *clientOpts) client() *apiclient.Client {
	c := apiclient.New(o.url)
	c.ProjectID, c.Roles = o.project, o.roles
	if o.roles != "" || o.project != "" {
		c.UserID = "neutrino-cli"
	}
	return c
}

// owner is the project a create names in its body: --project, else
// --os-project-id. In noauth mode Neutron refuses a create that carries an
// X-Project-Id header but no project in the body.
func (o *clientOpts) owner(flag string) string {
	if flag != "" {
		return flag
	}
	return o.project
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func addClientFlags(cmd *cobra.Command, o *clientOpts) { addClientFlagsTo(cmd.PersistentFlags(), o) }

func addClientFlagsTo(f *pflag.FlagSet, o *clientOpts) {
	f.StringVar(&o.url, "os-url", envOr("OS_URL", "http://127.0.0.1:9696"), "Neutron API endpoint (OS_URL)")
	f.StringVar(&o.project, "os-project-id", os.Getenv("OS_PROJECT_ID"), "project id sent as X-Project-Id (OS_PROJECT_ID)")
	f.StringVar(&o.roles, "os-roles", os.Getenv("OS_ROLES"), "roles sent as X-Roles, e.g. admin (OS_ROLES)")
	f.StringVarP(&o.format, "format", "f", "table", "output format: table or json")
}

// clientCmds are `neutrino network|subnet|port|agent create|list|show|update|delete`.
func clientCmds() []*cobra.Command {
	return []*cobra.Command{networkCmd(), subnetCmd(), portCmd()}
}

// resourceCmds builds list/show/delete, common to all resources.
type resDef struct {
	name, coll string
	cols       [][2]string // header, key
}

func (d resDef) resolve(ctx context.Context, c *apiclient.Client, ref string) (string, error) {
	var one map[string]any
	err := c.Do(ctx, "GET", "/v2.0/"+d.coll+"/"+url.PathEscape(ref), nil, &one)
	if err == nil {
		return ref, nil
	}
	if e, ok := neutron.AsError(err); !ok || e.Status != 404 {
		return "", err
	}
	var list map[string][]map[string]any
	if err := c.Do(ctx, "GET", "/v2.0/"+d.coll+apiclient.Query("name", ref), nil, &list); err != nil {
		return "", err
	}
	switch l := list[d.coll]; len(l) {
	case 0:
		return "", fmt.Errorf("no %s with a name or ID of %q exists", d.name, ref)
	case 1:
		return fmt.Sprint(l[0]["id"]), nil
	default:
		return "", fmt.Errorf("more than one %s exists with the name %q", d.name, ref)
	}
}

func (d resDef) show(ctx context.Context, w io.Writer, o *clientOpts, c *apiclient.Client, id string) error {
	var one map[string]map[string]any
	if err := c.Do(ctx, "GET", "/v2.0/"+d.coll+"/"+url.PathEscape(id), nil, &one); err != nil {
		return err
	}
	return printOne(w, o.format, one[d.name])
}

func (d resDef) common(o *clientOpts) []*cobra.Command {
	list := &cobra.Command{Use: "list", Short: "List " + d.coll, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out map[string]any
			if err := o.client().Do(cmd.Context(), "GET", "/v2.0/"+d.coll, nil, &out); err != nil {
				return err
			}
			items, _ := out[d.coll].([]any)
			return printList(cmd.OutOrStdout(), o.format, d.cols, items)
		}}
	show := &cobra.Command{Use: "show NAME_OR_ID", Short: "Show one " + d.name, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := o.client()
			id, err := d.resolve(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			return d.show(cmd.Context(), cmd.OutOrStdout(), o, c, id)
		}}
	del := &cobra.Command{Use: "delete NAME_OR_ID...", Short: "Delete " + d.coll, Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := o.client()
			for _, a := range args {
				id, err := d.resolve(cmd.Context(), c, a)
				if err != nil {
					return err
				}
				if err := c.Do(cmd.Context(), "DELETE", "/v2.0/"+d.coll+"/"+url.PathEscape(id), nil, nil); err != nil {
					return err
				}
			}
			return nil
		}}
	return []*cobra.Command{list, show, del}
}

// update runs a PUT with attrs and shows the result.
func (d resDef) update(ctx context.Context, w io.Writer, o *clientOpts, ref string, attrs map[string]any) error {
	c := o.client()
	id, err := d.resolve(ctx, c, ref)
	if err != nil {
		return err
	}
	if len(attrs) == 0 {
		return fmt.Errorf("nothing to update")
	}
	if err := c.Do(ctx, "PUT", "/v2.0/"+d.coll+"/"+url.PathEscape(id), map[string]any{d.name: attrs}, nil); err != nil {
		return err
	}
	return d.show(ctx, w, o, c, id)
}

func boolp(b bool) *bool { return &b }

func networkCmd() *cobra.Command {
	o := &clientOpts{}
	d := resDef{"network", "networks", [][2]string{{"ID", "id"}, {"Name", "name"}, {"Subnets", "subnets"}}}
	cmd := &cobra.Command{Use: "network", Short: "Networks (Neutron API client)"}
	addClientFlags(cmd, o)
	var (
		netType, physnet, project, desc string
		segID, mtu                      int64
		share, external, disable        bool
	)
	create := &cobra.Command{Use: "create NAME", Args: cobra.ExactArgs(1), Short: "Create a network",
		RunE: func(cmd *cobra.Command, args []string) error {
			r := neutron.NetworkCreate{Name: args[0], Description: desc, ProjectID: o.owner(project)}
			if cmd.Flags().Changed("share") {
				r.Shared = boolp(share)
			}
			if external {
				r.External = boolp(true)
			}
			if disable {
				r.AdminStateUp = boolp(false)
			}
			if mtu > 0 {
				m := int(mtu)
				r.MTU = &m
			}
			if netType != "" || segID != 0 || physnet != "" {
				r.Segment = &neutron.Segment{NetworkType: netType, PhysicalNetwork: physnet, SegmentationID: segID}
			}
			c := o.client()
			n, err := c.CreateNetwork(cmd.Context(), r)
			if err != nil {
				return err
			}
			return d.show(cmd.Context(), cmd.OutOrStdout(), o, c, n.ID)
		}}
	create.Flags().StringVar(&netType, "provider-network-type", "", "provider:network_type (vxlan, vlan, flat)")
	create.Flags().StringVar(&physnet, "provider-physical-network", "", "provider:physical_network")
	create.Flags().Int64Var(&segID, "provider-segment", 0, "provider:segmentation_id (VNI or VLAN id)")
	create.Flags().StringVar(&project, "project", "", "owner project id")
	create.Flags().StringVar(&desc, "description", "", "description")
	create.Flags().BoolVar(&share, "share", false, "share the network between projects")
	create.Flags().BoolVar(&external, "external", false, "router:external")
	create.Flags().BoolVar(&disable, "disable", false, "admin_state_up=false")
	create.Flags().Int64Var(&mtu, "mtu", 0, "MTU")
	var name, udesc string
	var enable, udisable bool
	update := &cobra.Command{Use: "update NAME_OR_ID", Aliases: []string{"set"}, Args: cobra.ExactArgs(1), Short: "Update a network",
		RunE: func(cmd *cobra.Command, args []string) error {
			a := map[string]any{}
			if cmd.Flags().Changed("name") {
				a["name"] = name
			}
			if cmd.Flags().Changed("description") {
				a["description"] = udesc
			}
			if enable {
				a["admin_state_up"] = true
			}
			if udisable {
				a["admin_state_up"] = false
			}
			return d.update(cmd.Context(), cmd.OutOrStdout(), o, args[0], a)
		}}
	update.Flags().StringVar(&name, "name", "", "new name")
	update.Flags().StringVar(&udesc, "description", "", "new description")
	update.Flags().BoolVar(&enable, "enable", false, "admin_state_up=true")
	update.Flags().BoolVar(&udisable, "disable", false, "admin_state_up=false")
	cmd.AddCommand(append(d.common(o), create, update)...)
	return cmd
}

func subnetCmd() *cobra.Command {
	o := &clientOpts{}
	d := resDef{"subnet", "subnets", [][2]string{{"ID", "id"}, {"Name", "name"}, {"Network", "network_id"}, {"Subnet", "cidr"}}}
	nd := resDef{"network", "networks", nil}
	cmd := &cobra.Command{Use: "subnet", Short: "Subnets (Neutron API client)"}
	addClientFlags(cmd, o)
	var network, cidr, gateway, project string
	var noDHCP bool
	var dns []string
	create := &cobra.Command{Use: "create NAME", Args: cobra.ExactArgs(1), Short: "Create a subnet",
		RunE: func(cmd *cobra.Command, args []string) error {
			c := o.client()
			netID, err := nd.resolve(cmd.Context(), c, network)
			if err != nil {
				return err
			}
			r := neutron.SubnetCreate{Name: args[0], NetworkID: netID, CIDR: cidr, ProjectID: o.owner(project), DNSNameservers: dns}
			if cmd.Flags().Changed("gateway") {
				g := gateway
				if g == "none" {
					g = ""
				}
				r.GatewayIP = &g
			}
			if noDHCP {
				r.EnableDHCP = boolp(false)
			}
			s, err := c.CreateSubnet(cmd.Context(), r)
			if err != nil {
				return err
			}
			return d.show(cmd.Context(), cmd.OutOrStdout(), o, c, s.ID)
		}}
	create.Flags().StringVar(&network, "network", "", "network name or id (required)")
	create.Flags().StringVar(&cidr, "subnet-range", "", "CIDR (required)")
	create.Flags().StringVar(&gateway, "gateway", "", "gateway address or 'none'")
	create.Flags().StringVar(&project, "project", "", "owner project id")
	create.Flags().BoolVar(&noDHCP, "no-dhcp", false, "enable_dhcp=false")
	create.Flags().StringSliceVar(&dns, "dns-nameserver", nil, "DNS server (repeatable)")
	create.MarkFlagRequired("network")
	create.MarkFlagRequired("subnet-range")
	var name string
	update := &cobra.Command{Use: "update NAME_OR_ID", Aliases: []string{"set"}, Args: cobra.ExactArgs(1), Short: "Update a subnet",
		RunE: func(cmd *cobra.Command, args []string) error {
			a := map[string]any{}
			if cmd.Flags().Changed("name") {
				a["name"] = name
			}
			return d.update(cmd.Context(), cmd.OutOrStdout(), o, args[0], a)
		}}
	update.Flags().StringVar(&name, "name", "", "new name")
	cmd.AddCommand(append(d.common(o), create, update)...)
	return cmd
}

func portCmd() *cobra.Command {
	o := &clientOpts{}
	d := resDef{"port", "ports", [][2]string{{"ID", "id"}, {"Name", "name"}, {"MAC Address", "mac_address"}, {"Fixed IP Addresses", "fixed_ips"}, {"Status", "status"}}}
	nd := resDef{"network", "networks", nil}
	cmd := &cobra.Command{Use: "port", Short: "Ports (Neutron API client)"}
	addClientFlags(cmd, o)
	var network, mac, host, owner, device, project string
	var fixed []string
	create := &cobra.Command{Use: "create NAME", Args: cobra.ExactArgs(1), Short: "Create a port",
		RunE: func(cmd *cobra.Command, args []string) error {
			c := o.client()
			netID, err := nd.resolve(cmd.Context(), c, network)
			if err != nil {
				return err
			}
			r := neutron.PortCreate{Name: args[0], NetworkID: netID, MACAddress: mac, HostID: host,
				DeviceOwner: owner, DeviceID: device, ProjectID: o.owner(project)}
			for _, f := range fixed {
				var req neutron.FixedIPRequest
				for _, kv := range strings.Split(f, ",") {
					k, v, _ := strings.Cut(kv, "=")
					switch k {
					case "subnet":
						req.SubnetID = v
					case "ip-address":
						req.IPAddress = v
					default:
						return fmt.Errorf("--fixed-ip %q: want subnet=ID,ip-address=IP", f)
					}
				}
				r.FixedIPs = append(r.FixedIPs, req)
			}
			p, err := c.CreatePort(cmd.Context(), r)
			if err != nil {
				return err
			}
			return d.show(cmd.Context(), cmd.OutOrStdout(), o, c, p.ID)
		}}
	create.Flags().StringVar(&network, "network", "", "network name or id (required)")
	create.Flags().StringVar(&mac, "mac-address", "", "MAC address")
	create.Flags().StringVar(&host, "host", "", "binding:host_id (admin)")
	create.Flags().StringVar(&owner, "device-owner", "", "device_owner, e.g. compute:nova")
	create.Flags().StringVar(&device, "device", "", "device_id")
	create.Flags().StringVar(&project, "project", "", "owner project id")
	create.Flags().StringArrayVar(&fixed, "fixed-ip", nil, "subnet=ID,ip-address=IP (repeatable)")
	create.MarkFlagRequired("network")
	var name, uhost string
	var enable, disable bool
	update := &cobra.Command{Use: "update NAME_OR_ID", Aliases: []string{"set"}, Args: cobra.ExactArgs(1), Short: "Update a port",
		RunE: func(cmd *cobra.Command, args []string) error {
			a := map[string]any{}
			if cmd.Flags().Changed("name") {
				a["name"] = name
			}
			if cmd.Flags().Changed("host") {
				a["binding:host_id"] = uhost
			}
			if enable {
				a["admin_state_up"] = true
			}
			if disable {
				a["admin_state_up"] = false
			}
			return d.update(cmd.Context(), cmd.OutOrStdout(), o, args[0], a)
		}}
	update.Flags().StringVar(&name, "name", "", "new name")
	update.Flags().StringVar(&uhost, "host", "", "binding:host_id (admin)")
	update.Flags().BoolVar(&enable, "enable", false, "admin_state_up=true")
	update.Flags().BoolVar(&disable, "disable", false, "admin_state_up=false")
	cmd.AddCommand(append(d.common(o), create, update)...)
	return cmd
}

// agentClientSubcommands are `neutrino agent list|show|update|delete`.
// `neutrino agent` itself is the node agent command (agent.go); it adds
// these next to its `openvswitch` and `linuxbridge` subcommands.
func agentClientSubcommands() []*cobra.Command {
	o := &clientOpts{}
	d := resDef{"agent", "agents", [][2]string{{"ID", "id"}, {"Agent Type", "agent_type"}, {"Host", "host"},
		{"Availability Zone", "availability_zone"}, {"Alive", "alive"}, {"State", "admin_state_up"}, {"Binary", "binary"}}}
	var desc string
	var enable, disable bool
	update := &cobra.Command{Use: "update ID", Aliases: []string{"set"}, Args: cobra.ExactArgs(1), Short: "Update an agent (admin_state_up, description)",
		RunE: func(cmd *cobra.Command, args []string) error {
			a := map[string]any{}
			if cmd.Flags().Changed("description") {
				a["description"] = desc
			}
			if enable {
				a["admin_state_up"] = true
			}
			if disable {
				a["admin_state_up"] = false
			}
			return d.update(cmd.Context(), cmd.OutOrStdout(), o, args[0], a)
		}}
	update.Flags().StringVar(&desc, "description", "", "description")
	update.Flags().BoolVar(&enable, "enable", false, "admin_state_up=true")
	update.Flags().BoolVar(&disable, "disable", false, "admin_state_up=false")
	cmds := append(d.common(o), update)
	for _, c := range cmds {
		c.Short += " (Neutron API)"
		addClientFlagsTo(c.Flags(), o)
	}
	return cmds
}

// Output.

func cell(key string, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		switch key {
		case "alive":
			if x {
				return ":-)"
			}
			return "XXX"
		case "admin_state_up":
			if x {
				return "UP"
			}
			return "DOWN"
		}
		if x {
			return "True"
		}
		return "False"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			if m, ok := e.(map[string]any); ok && key == "fixed_ips" {
				parts[i] = fmt.Sprintf("ip_address='%v', subnet_id='%v'", m["ip_address"], m["subnet_id"])
				continue
			}
			parts[i] = cell("", e)
		}
		return strings.Join(parts, ", ")
	case float64:
		return fmt.Sprint(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// table renders rows like the openstack CLI (cliff's table formatter).
// closeEmpty draws the bottom border under the header of an empty table
// too, as nova's table does (cliff's does not).
func table(w io.Writer, header []string, rows [][]string, closeEmpty bool) {
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	sep := "+"
	for _, n := range width {
		sep += strings.Repeat("-", n+2) + "+"
	}
	line := func(cells []string) {
		s := "|"
		for i, c := range cells {
			s += " " + c + strings.Repeat(" ", width[i]-len(c)) + " |"
		}
		fmt.Fprintln(w, s)
	}
	fmt.Fprintln(w, sep)
	line(header)
	fmt.Fprintln(w, sep)
	for _, r := range rows {
		line(r)
	}
	if len(rows) > 0 || closeEmpty {
		fmt.Fprintln(w, sep)
	}
}

func printList(w io.Writer, format string, cols [][2]string, items []any) error {
	if format == "json" {
		out := make([]map[string]any, 0, len(items))
		for _, it := range items {
			m, _ := it.(map[string]any)
			row := map[string]any{}
			for _, c := range cols {
				row[c[0]] = m[c[1]]
			}
			out = append(out, row)
		}
		return printJSON(w, out)
	}
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c[0]
	}
	var rows [][]string
	for _, it := range items {
		m, _ := it.(map[string]any)
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = cell(c[1], m[c[1]])
		}
		rows = append(rows, row)
	}
	table(w, header, rows, false)
	return nil
}

func printOne(w io.Writer, format string, m map[string]any) error {
	if format == "json" {
		return printJSON(w, m)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var rows [][]string
	for _, k := range keys {
		rows = append(rows, []string{k, cell(k, m[k])})
	}
	table(w, []string{"Field", "Value"}, rows, false)
	return nil
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
