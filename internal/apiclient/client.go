// Package apiclient is a small Neutron v2.0 API client typed on the
// neutron package's resources. The CLI verbs, `vm boot` and the demo use
// it. It is hand-written (not gophercloud) so that it decodes straight
// into neutron.* types, including provider:* and agents' timestamps.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"neutrino/internal/neutron"
)

// Client talks to one Neutron endpoint. In noauth mode ProjectID and
// Roles only become the X-Project-Id / X-Roles headers.
type Client struct {
	BaseURL   string // e.g. http://127.0.0.1:9696
	ProjectID string
	UserID    string
	Roles     string
	HTTP      *http.Client
}

// New returns a client for baseURL.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Do sends one request; in (if not nil) is marshalled as the body, the
// response is decoded into out (if not nil). A NeutronError response is
// returned as *neutron.Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.ProjectID != "" {
		req.Header.Set("X-Project-Id", c.ProjectID)
	}
	if c.UserID != "" {
		req.Header.Set("X-User-Id", c.UserID)
	}
	if c.Roles != "" {
		req.Header.Set("X-Roles", c.Roles)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var f struct {
			NeutronError *struct{ Type, Message string } `json:"NeutronError"`
		}
		if json.Unmarshal(data, &f) == nil && f.NeutronError != nil {
			return &neutron.Error{Status: resp.StatusCode, Type: f.NeutronError.Type, Message: f.NeutronError.Message}
		}
		return &neutron.Error{Status: resp.StatusCode, Type: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(data))}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return nil
}

// wire forms: Neutron puts a single segment's provider:* at the top level
// and renders agents' timestamps without a zone.
type wireNetwork struct {
	neutron.Network
	NetworkType     *string           `json:"provider:network_type"`
	PhysicalNetwork *string           `json:"provider:physical_network"`
	SegmentationID  *int64            `json:"provider:segmentation_id"`
	WireSegments    []neutron.Segment `json:"segments"`
}

func (w *wireNetwork) network() neutron.Network {
	n := w.Network
	n.Segments = w.WireSegments
	if w.NetworkType != nil && len(n.Segments) == 0 {
		s := neutron.Segment{NetworkType: *w.NetworkType}
		if w.PhysicalNetwork != nil {
			s.PhysicalNetwork = *w.PhysicalNetwork
		}
		if w.SegmentationID != nil {
			s.SegmentationID = *w.SegmentationID
		}
		n.Segments = []neutron.Segment{s}
	}
	return n
}

type wireAgent struct {
	neutron.Agent
	Created   string  `json:"created_at"`
	Started   string  `json:"started_at"`
	Heartbeat string  `json:"heartbeat_timestamp"`
	Desc      *string `json:"description"`
	AZ        *string `json:"availability_zone"`
}

func (w *wireAgent) agent() neutron.Agent {
	a := w.Agent
	p := func(s string) time.Time { t, _ := time.Parse("2006-01-02 15:04:05", s); return t }
	a.CreatedAt, a.StartedAt, a.HeartbeatAt = p(w.Created), p(w.Started), p(w.Heartbeat)
	if w.Desc != nil {
		a.Description = *w.Desc
	}
	if w.AZ != nil {
		a.AvailabilityZone = *w.AZ
	}
	return a
}

// Query builds a query string from key/value pairs (repeated keys allowed).
func Query(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

func setIf[T any](m map[string]any, k string, p *T) {
	if p != nil {
		m[k] = *p
	}
}

func setStr(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// Networks.

func networkBody(r neutron.NetworkCreate) map[string]any {
	m := map[string]any{}
	setStr(m, "name", r.Name)
	setStr(m, "description", r.Description)
	setStr(m, "project_id", r.ProjectID)
	setIf(m, "admin_state_up", r.AdminStateUp)
	setIf(m, "shared", r.Shared)
	setIf(m, "router:external", r.External)
	setIf(m, "mtu", r.MTU)
	setIf(m, "port_security_enabled", r.PortSecurityEnabled)
	if s := r.Segment; s != nil {
		setStr(m, "provider:network_type", s.NetworkType)
		setStr(m, "provider:physical_network", s.PhysicalNetwork)
		if s.SegmentationID != 0 {
			m["provider:segmentation_id"] = s.SegmentationID
		}
	}
	return map[string]any{"network": m}
}

func (c *Client) CreateNetwork(ctx context.Context, r neutron.NetworkCreate) (*neutron.Network, error) {
	var out struct{ Network wireNetwork }
	if err := c.Do(ctx, "POST", "/v2.0/networks", networkBody(r), &out); err != nil {
		return nil, err
	}
	n := out.Network.network()
	return &n, nil
}

func (c *Client) GetNetwork(ctx context.Context, id string) (*neutron.Network, error) {
	var out struct{ Network wireNetwork }
	if err := c.Do(ctx, "GET", "/v2.0/networks/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	n := out.Network.network()
	return &n, nil
}

// ListNetworks lists with an optional query string from Query.
func (c *Client) ListNetworks(ctx context.Context, query string) ([]neutron.Network, error) {
	var out struct{ Networks []wireNetwork }
	if err := c.Do(ctx, "GET", "/v2.0/networks"+query, nil, &out); err != nil {
		return nil, err
	}
	l := make([]neutron.Network, len(out.Networks))
	for i := range out.Networks {
		l[i] = out.Networks[i].network()
	}
	return l, nil
}

// UpdateNetwork sends the given attributes (Neutron names) as a PUT.
func (c *Client) UpdateNetwork(ctx context.Context, id string, attrs map[string]any) (*neutron.Network, error) {
	var out struct{ Network wireNetwork }
	if err := c.Do(ctx, "PUT", "/v2.0/networks/"+url.PathEscape(id), map[string]any{"network": attrs}, &out); err != nil {
		return nil, err
	}
	n := out.Network.network()
	return &n, nil
}

func (c *Client) DeleteNetwork(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/v2.0/networks/"+url.PathEscape(id), nil, nil)
}

// Subnets.

func subnetBody(r neutron.SubnetCreate) map[string]any {
	m := map[string]any{"network_id": r.NetworkID, "cidr": r.CIDR}
	m["ip_version"] = r.IPVersion
	if r.IPVersion == 0 {
		m["ip_version"] = 4
		if strings.Contains(r.CIDR, ":") {
			m["ip_version"] = 6
		}
	}
	setStr(m, "name", r.Name)
	setStr(m, "description", r.Description)
	setStr(m, "project_id", r.ProjectID)
	if r.GatewayIP != nil {
		if *r.GatewayIP == "" {
			m["gateway_ip"] = nil
		} else {
			m["gateway_ip"] = *r.GatewayIP
		}
	}
	if r.AllocationPools != nil {
		m["allocation_pools"] = r.AllocationPools
	}
	setIf(m, "enable_dhcp", r.EnableDHCP)
	if r.DNSNameservers != nil {
		m["dns_nameservers"] = r.DNSNameservers
	}
	if r.HostRoutes != nil {
		m["host_routes"] = r.HostRoutes
	}
	setStr(m, "ipv6_ra_mode", r.IPv6RAMode)
	setStr(m, "ipv6_address_mode", r.IPv6AddressMode)
	return map[string]any{"subnet": m}
}

func (c *Client) CreateSubnet(ctx context.Context, r neutron.SubnetCreate) (*neutron.Subnet, error) {
	var out struct{ Subnet neutron.Subnet }
	if err := c.Do(ctx, "POST", "/v2.0/subnets", subnetBody(r), &out); err != nil {
		return nil, err
	}
	return &out.Subnet, nil
}

func (c *Client) GetSubnet(ctx context.Context, id string) (*neutron.Subnet, error) {
	var out struct{ Subnet neutron.Subnet }
	if err := c.Do(ctx, "GET", "/v2.0/subnets/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	return &out.Subnet, nil
}

func (c *Client) ListSubnets(ctx context.Context, query string) ([]neutron.Subnet, error) {
	var out struct{ Subnets []neutron.Subnet }
	err := c.Do(ctx, "GET", "/v2.0/subnets"+query, nil, &out)
	return out.Subnets, err
}

func (c *Client) UpdateSubnet(ctx context.Context, id string, attrs map[string]any) (*neutron.Subnet, error) {
	var out struct{ Subnet neutron.Subnet }
	if err := c.Do(ctx, "PUT", "/v2.0/subnets/"+url.PathEscape(id), map[string]any{"subnet": attrs}, &out); err != nil {
		return nil, err
	}
	return &out.Subnet, nil
}

func (c *Client) DeleteSubnet(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/v2.0/subnets/"+url.PathEscape(id), nil, nil)
}

// Ports.

func portBody(r neutron.PortCreate) map[string]any {
	m := map[string]any{"network_id": r.NetworkID}
	setStr(m, "name", r.Name)
	setStr(m, "description", r.Description)
	setStr(m, "project_id", r.ProjectID)
	setStr(m, "mac_address", r.MACAddress)
	setStr(m, "device_id", r.DeviceID)
	setStr(m, "device_owner", r.DeviceOwner)
	setStr(m, "binding:host_id", r.HostID)
	setStr(m, "binding:vnic_type", r.VNICType)
	setIf(m, "admin_state_up", r.AdminStateUp)
	setIf(m, "port_security_enabled", r.PortSecurityEnabled)
	if r.FixedIPs != nil {
		ips := make([]map[string]string, len(r.FixedIPs))
		for i, f := range r.FixedIPs {
			ips[i] = map[string]string{}
			setStrS(ips[i], "subnet_id", f.SubnetID)
			setStrS(ips[i], "ip_address", f.IPAddress)
		}
		m["fixed_ips"] = ips
	}
	if r.AllowedAddressPairs != nil {
		m["allowed_address_pairs"] = r.AllowedAddressPairs
	}
	if r.SecurityGroups != nil {
		m["security_groups"] = r.SecurityGroups
	}
	if len(r.Profile) > 0 {
		m["binding:profile"] = r.Profile
	}
	if r.Tags != nil {
		m["tags"] = r.Tags
	}
	return map[string]any{"port": m}
}

func setStrS(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func (c *Client) CreatePort(ctx context.Context, r neutron.PortCreate) (*neutron.Port, error) {
	var out struct{ Port neutron.Port }
	if err := c.Do(ctx, "POST", "/v2.0/ports", portBody(r), &out); err != nil {
		return nil, err
	}
	return &out.Port, nil
}

func (c *Client) GetPort(ctx context.Context, id string) (*neutron.Port, error) {
	var out struct{ Port neutron.Port }
	if err := c.Do(ctx, "GET", "/v2.0/ports/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	return &out.Port, nil
}

func (c *Client) ListPorts(ctx context.Context, query string) ([]neutron.Port, error) {
	var out struct{ Ports []neutron.Port }
	err := c.Do(ctx, "GET", "/v2.0/ports"+query, nil, &out)
	return out.Ports, err
}

func (c *Client) UpdatePort(ctx context.Context, id string, attrs map[string]any) (*neutron.Port, error) {
	var out struct{ Port neutron.Port }
	if err := c.Do(ctx, "PUT", "/v2.0/ports/"+url.PathEscape(id), map[string]any{"port": attrs}, &out); err != nil {
		return nil, err
	}
	return &out.Port, nil
}

func (c *Client) DeletePort(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/v2.0/ports/"+url.PathEscape(id), nil, nil)
}

// Agents.

func (c *Client) ListAgents(ctx context.Context, query string) ([]neutron.Agent, error) {
	var out struct{ Agents []wireAgent }
	if err := c.Do(ctx, "GET", "/v2.0/agents"+query, nil, &out); err != nil {
		return nil, err
	}
	l := make([]neutron.Agent, len(out.Agents))
	for i := range out.Agents {
		l[i] = out.Agents[i].agent()
	}
	return l, nil
}

func (c *Client) GetAgent(ctx context.Context, id string) (*neutron.Agent, error) {
	var out struct{ Agent wireAgent }
	if err := c.Do(ctx, "GET", "/v2.0/agents/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	a := out.Agent.agent()
	return &a, nil
}

func (c *Client) UpdateAgent(ctx context.Context, id string, r neutron.AgentUpdate) (*neutron.Agent, error) {
	m := map[string]any{}
	setIf(m, "admin_state_up", r.AdminStateUp)
	setIf(m, "description", r.Description)
	var out struct{ Agent wireAgent }
	if err := c.Do(ctx, "PUT", "/v2.0/agents/"+url.PathEscape(id), map[string]any{"agent": m}, &out); err != nil {
		return nil, err
	}
	a := out.Agent.agent()
	return &a, nil
}

func (c *Client) DeleteAgent(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/v2.0/agents/"+url.PathEscape(id), nil, nil)
}
