package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc/pb"
)

// ClientConfig says how an agent reaches the server.
type ClientConfig struct {
	// Target is host:port, or several joined by commas (see
	// ParseTransportURL): the client then uses the first that answers and
	// moves to another when its connection breaks.
	Target string
	// Token is sent as "authorization: Bearer <token>" on every call.
	Token string
	// TLS, when set, dials TLS (with a client certificate for mTLS).
	TLS *tls.Config
}

// Client is an agent's connection to the server. It reconnects by itself;
// a Watch call is one stream.
type Client struct {
	conn *grpc.ClientConn
	api  pb.AgentsClient
	// vteps shares the VTEP list of the snapshots this client decodes
	// (the same cloud-wide list in every one).
	vteps vtepCache
}

type tokenCreds struct {
	token  string
	secure bool
}

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + t.token}, nil
}

// The token also guards plain-text lab setups on loopback and namespaces,
// so it does not insist on TLS.
func (t tokenCreds) RequireTransportSecurity() bool { return t.secure }

// Dial returns a client; it does not wait for the server.
func Dial(cfg ClientConfig) (*Client, error) {
	opts := []grpc.DialOption{
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256 << 20)),
		experimental.WithBufferPool(bufferPool()),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg.TLS)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if cfg.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds{token: cfg.Token, secure: cfg.TLS != nil}))
	}
	target := "passthrough:///" + cfg.Target
	if hosts := strings.Split(cfg.Target, ","); len(hosts) > 1 {
		// A fixed address list and pick_first: gRPC connects to the first
		// reachable server and, when that connection breaks, tries the
		// list again, so an agent fails over when its server dies. The
		// agent's watch resumes from its revision on whichever answers.
		r := manual.NewBuilderWithScheme("neutrino-servers")
		addrs := make([]resolver.Address, len(hosts))
		for i, h := range hosts {
			addrs[i] = resolver.Address{Addr: h}
		}
		r.InitialState(resolver.State{Addresses: addrs})
		opts = append(opts, grpc.WithResolvers(r))
		target = r.Scheme() + ":///servers"
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial server %s: %w", cfg.Target, err)
	}
	return &Client{conn: conn, api: pb.NewAgentsClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// ReportState sends one heartbeat; it returns the agent's id.
func (c *Client) ReportState(ctx context.Context, r neutron.AgentReport) (string, error) {
	rep, err := c.api.ReportState(ctx, &pb.ReportStateRequest{
		AgentType: r.AgentType, Binary: r.Binary, Host: r.Host, Topic: r.Topic,
		Configurations: r.Configurations, StartFlag: r.StartFlag, TunnelIp: r.TunnelIP, TunnelTypes: r.TunnelTypes,
	})
	if err != nil {
		return "", fmt.Errorf("report_state: %w", err)
	}
	return rep.GetAgentId(), nil
}

// UpdateDevice reports a port's device up or down; it returns the port's
// new status.
func (c *Client) UpdateDevice(ctx context.Context, host, portID string, up bool) (string, error) {
	rep, err := c.api.UpdateDevice(ctx, &pb.UpdateDeviceRequest{Host: host, PortId: portID, Up: up})
	if err != nil {
		return "", fmt.Errorf("update_device %s: %w", portID, err)
	}
	return rep.GetStatus(), nil
}

// Update is one watch message, decoded: exactly one of Snapshot and
// Delta is set.
type Update struct {
	Revision int64
	// Prev is the revision a delta applies on.
	Prev     int64
	Snapshot *l2pop.View
	Delta    *l2pop.Delta
	// Size is the message's size on the wire, in bytes.
	Size int
}

// Watch opens one watch stream for host, resuming after lastRevision (0:
// from a snapshot), and calls fn for every message until the stream
// breaks, ctx ends or fn fails. It always returns an error; ctx.Err()
// when ctx ended.
func (c *Client) Watch(ctx context.Context, host string, lastRevision int64, fn func(Update) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &pb.WatchRequest{Host: host, LastRevision: lastRevision, PackedVteps: true}
	// The VTEP set this connection already decoded: the server leaves
	// it out of a snapshot that has the same. held stays this stream's,
	// whatever set the cache moves to meanwhile.
	held := c.vteps.held()
	if held != nil {
		req.VtepsDigest = held.digest
	}
	stream, err := c.api.Watch(ctx, req)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	return receive(ctx, "watch", stream.Recv, func(m *pb.WatchMessage) error {
		u, err := decodeUpdate(m, &c.vteps, held)
		if err != nil {
			return fmt.Errorf("watch revision %d: %w", m.GetRevision(), err)
		}
		return fn(u)
	})
}

// receive reads a watch stream's messages and hands each to handle
// until the stream breaks, ctx ends (ctx.Err()) or handle fails. what
// names the stream in errors.
func receive[M any](ctx context.Context, what string, recv func() (M, error), handle func(M) error) error {
	for {
		m, err := recv()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return errors.New(what + ": server closed the stream")
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := handle(m); err != nil {
			return err
		}
	}
}

// decodeUpdate decodes a watch message; held is the VTEP set the watch
// request named (nil: none).
func decodeUpdate(m *pb.WatchMessage, vt *vtepCache, held *vtepSet) (Update, error) {
	u := Update{Revision: m.GetRevision(), Prev: m.GetPrevRevision(), Size: sizeOf(m)}
	switch b := m.GetBody().(type) {
	case *pb.WatchMessage_Snapshot:
		if err := restoreHeldVTEPs(b.Snapshot.GetFirewall(), held); err != nil {
			return u, err
		}
		v, err := viewFromPB(b.Snapshot, vt)
		if err != nil {
			return u, err
		}
		u.Snapshot = &v
	case *pb.WatchMessage_Delta:
		d, err := DeltaFromPB(b.Delta)
		if err != nil {
			return u, err
		}
		u.Delta = &d
	default:
		return u, errors.New("message has neither snapshot nor delta")
	}
	return u, nil
}
