package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Client speaks the Neutron v2.0 API as a black box: the same requests go to
// Neutron and to neutrino. Keep-alive connections, one pool per system; a
// request unanswered for 2 minutes fails (Neutron's slowest here take ~20 s).
type Client struct {
	Base string
	HTTP *http.Client
}

func NewClient(base string) *Client {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	return &Client{Base: base, HTTP: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// APIError is a non-2xx answer.
type APIError struct {
	Status int
	Body   string
}

func (e *APIError) Error() string { return fmt.Sprintf("HTTP %d: %.300s", e.Status, e.Body) }

// Do sends one request; out (if non-nil) receives the decoded JSON body.
// It returns the body size.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return len(b), &APIError{Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return len(b), fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return len(b), nil
}

type idOnly struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	MAC    string `json:"mac_address"`
}

// CreateNetwork creates a tenant network (the server picks a VXLAN VNI).
func (c *Client) CreateNetwork(ctx context.Context, name string) (string, error) {
	var out struct{ Network idOnly }
	_, err := c.Do(ctx, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": name}}, &out)
	if err == nil && out.Network.ID == "" {
		err = fmt.Errorf("create network %s: no id in answer", name)
	}
	return out.Network.ID, err
}

// CreateSubnet creates an IPv4 subnet on net.
func (c *Client) CreateSubnet(ctx context.Context, net, cidr string) (string, error) {
	var out struct{ Subnet idOnly }
	_, err := c.Do(ctx, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": net, "cidr": cidr, "ip_version": 4}}, &out)
	if err == nil && out.Subnet.ID == "" {
		err = fmt.Errorf("create subnet on %s: no id in answer", net)
	}
	return out.Subnet.ID, err
}

// CreatePort creates one port; extra attributes are merged into the body.
func (c *Client) CreatePort(ctx context.Context, net, name string, extra map[string]any) (string, error) {
	id, _, err := c.CreatePortMAC(ctx, net, name, extra)
	return id, err
}

// CreatePortMAC is CreatePort that also returns the port's MAC address.
func (c *Client) CreatePortMAC(ctx context.Context, net, name string, extra map[string]any) (string, string, error) {
	p := map[string]any{"network_id": net, "name": name}
	for k, v := range extra {
		p[k] = v
	}
	var out struct{ Port idOnly }
	_, err := c.Do(ctx, "POST", "/v2.0/ports", map[string]any{"port": p}, &out)
	if err == nil && out.Port.ID == "" {
		err = fmt.Errorf("create port %s: no id in answer", name)
	}
	return out.Port.ID, out.Port.MAC, err
}

// BulkCreatePorts creates len(names) ports in one request ({"ports": [...]}).
func (c *Client) BulkCreatePorts(ctx context.Context, net string, names []string) error {
	ps := make([]map[string]any, len(names))
	for i, n := range names {
		ps[i] = map[string]any{"network_id": net, "name": n}
	}
	var out struct{ Ports []idOnly }
	if _, err := c.Do(ctx, "POST", "/v2.0/ports", map[string]any{"ports": ps}, &out); err != nil {
		return err
	}
	if len(out.Ports) != len(names) {
		return fmt.Errorf("bulk create: asked for %d ports, got %d", len(names), len(out.Ports))
	}
	return nil
}

// ListPorts lists the ports of one network; it returns how many and the body size.
func (c *Client) ListPorts(ctx context.Context, net string) (int, int, error) {
	var out struct{ Ports []json.RawMessage }
	n, err := c.Do(ctx, "GET", "/v2.0/ports?network_id="+url.QueryEscape(net), nil, &out)
	return len(out.Ports), n, err
}

// NetworkByName returns the id of the network named name ("" if none).
func (c *Client) NetworkByName(ctx context.Context, name string) (string, error) {
	var out struct{ Networks []idOnly }
	if _, err := c.Do(ctx, "GET", "/v2.0/networks?fields=id&name="+url.QueryEscape(name), nil, &out); err != nil {
		return "", err
	}
	if len(out.Networks) == 0 {
		return "", nil
	}
	return out.Networks[0].ID, nil
}

// AgentAlive reports whether an agent on host is alive.
func (c *Client) AgentAlive(ctx context.Context, host string) (bool, error) {
	var out struct {
		Agents []struct {
			Host  string `json:"host"`
			Alive bool   `json:"alive"`
		}
	}
	if _, err := c.Do(ctx, "GET", "/v2.0/agents", nil, &out); err != nil {
		return false, err
	}
	for _, a := range out.Agents {
		if a.Host == host && a.Alive {
			return true, nil
		}
	}
	return false, nil
}

// PortStatus returns a port's status.
func (c *Client) PortStatus(ctx context.Context, id string) (string, error) {
	var out struct{ Port idOnly }
	_, err := c.Do(ctx, "GET", "/v2.0/ports/"+id+"?fields=id&fields=status", nil, &out)
	return out.Port.Status, err
}
