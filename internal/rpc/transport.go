package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"neutrino/internal/config"
	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
)

// DefaultPort is rpc_bind_port's default.
const DefaultPort = 9697

func sizeOf(m proto.Message) int { return proto.Size(m) }

// ParseTransportURL turns [DEFAULT] transport_url into a dial target
// (host:port). Only grpc:// is spoken; an AMQP URL gets advice. Several
// servers are written as oslo writes several RabbitMQ hosts,
// grpc://host1:port1,host2:port2; the target is then the host:port list
// joined by commas, and the client fails over between them (Dial).
func ParseTransportURL(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("transport_url is not set: add transport_url = grpc://<server>:%d to [DEFAULT]", DefaultPort)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		// Let url.Parse say what is wrong, or name the missing scheme.
		if _, err := url.Parse(raw); err != nil {
			return "", fmt.Errorf("transport_url %q: %w", raw, err)
		}
	}
	authority, _, _ := strings.Cut(rest, "/")
	var targets []string
	for _, host := range strings.Split(authority, ",") {
		t, err := parseOneTransport(scheme + "://" + host)
		if err != nil {
			return "", err
		}
		targets = append(targets, t)
	}
	return strings.Join(targets, ","), nil
}

func parseOneTransport(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("transport_url %q: %w", raw, err)
	}
	switch u.Scheme {
	case "grpc":
	case "rabbit", "amqp", "kombu", "qpid", "zmq":
		return "", fmt.Errorf("transport_url %q: neutrino agents do not use a message queue; they talk gRPC to the server: "+
			"set transport_url = grpc://<server>:<rpc_bind_port> (default port %d) in [DEFAULT]", redact(u), DefaultPort)
	default:
		return "", fmt.Errorf("transport_url %q: unknown scheme %q; write transport_url = grpc://<server>:%d", redact(u), u.Scheme, DefaultPort)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", fmt.Errorf("transport_url %q has no host; write grpc://<server>:%d", redact(u), DefaultPort)
	}
	if port == "" {
		port = strconv.Itoa(DefaultPort)
	}
	return net.JoinHostPort(host, port), nil
}

// redact hides a password in a URL we echo back.
func redact(u *url.URL) string { return u.Redacted() }

// ClientConfigFor builds an agent's client settings from its config.
func ClientConfigFor(cfg *config.Agent) (ClientConfig, error) {
	target, err := ParseTransportURL(cfg.TransportURL)
	if err != nil {
		return ClientConfig{}, err
	}
	cc := ClientConfig{Target: target, Token: cfg.RPCToken}
	if cfg.RPCTLSCA != "" || cfg.RPCTLSCert != "" {
		t := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.RPCTLSCA != "" {
			pool, err := loadPool(cfg.RPCTLSCA)
			if err != nil {
				return cc, err
			}
			t.RootCAs = pool
		}
		if cfg.RPCTLSCert != "" {
			cert, err := tls.LoadX509KeyPair(cfg.RPCTLSCert, cfg.RPCTLSKey)
			if err != nil {
				return cc, fmt.Errorf("rpc_tls_cert_file %s: %w", cfg.RPCTLSCert, err)
			}
			t.Certificates = []tls.Certificate{cert}
		}
		// With several servers each handshake checks its own host
		// (gRPC's authority of the address dialled).
		if h, _, err := net.SplitHostPort(target); err == nil && !strings.Contains(target, ",") {
			t.ServerName = h
		}
		cc.TLS = t
	}
	return cc, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ServerConfigFor builds the server's settings from neutron.conf and
// ml2_conf.ini: l2population from mechanism_drivers, the token and TLS
// files.
func ServerConfigFor(cfg *config.Server, logger *slog.Logger) (ServerConfig, error) {
	sc := ServerConfig{
		L2Pop:  l2pop.Config{Enabled: slices.Contains(cfg.MechanismDrivers, "l2population")},
		Token:  cfg.RPCToken,
		Logger: logger,
	}
	for _, t := range cfg.TypeDrivers {
		if t == neutron.TypeVXLAN || t == neutron.TypeGRE {
			sc.L2Pop.NetworkTypes = append(sc.L2Pop.NetworkTypes, t)
		}
	}
	if cfg.RPCTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.RPCTLSCert, cfg.RPCTLSKey)
		if err != nil {
			return sc, fmt.Errorf("rpc_tls_cert_file %s: %w", cfg.RPCTLSCert, err)
		}
		sc.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if cfg.RPCTLSClientCA != "" {
			pool, err := loadPool(cfg.RPCTLSClientCA)
			if err != nil {
				return sc, err
			}
			// Verify a certificate when given; the interceptor refuses
			// (and logs) requests without one, which a handshake
			// failure would not let us log, and binds every request to
			// the host the certificate names (certHostMatches).
			sc.TLS.ClientCAs = pool
			sc.TLS.ClientAuth = tls.VerifyClientCertIfGiven
			sc.RequireClientCert = true
		}
	} else if cfg.RPCTLSClientCA != "" {
		return sc, fmt.Errorf("rpc_tls_client_ca_file needs rpc_tls_cert_file and rpc_tls_key_file (the server's own certificate)")
	}
	return sc, nil
}

// Start listens on rpc_bind_host:rpc_bind_port and serves agents in the
// background: neutrino server calls it once the plugin is up. A serving
// error after start goes to errc (if not nil); stop ends the server and
// waits for it.
func Start(ctx context.Context, cfg *config.Server, backend Backend, logger *slog.Logger, errc chan<- error) (srv *Server, stop func(), err error) {
	lis, sc, err := listen(ctx, cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	srv = NewServer(backend, sc)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, lis); err != nil && errc != nil {
			errc <- err
		}
	}()
	return srv, func() { cancel(); <-done }, nil
}

func listen(ctx context.Context, cfg *config.Server, logger *slog.Logger) (net.Listener, ServerConfig, error) {
	sc, err := ServerConfigFor(cfg, logger)
	if err != nil {
		return nil, sc, err
	}
	port := cfg.RPCBindPort
	if port == 0 {
		port = DefaultPort
	}
	host := cfg.RPCBindHost
	if host == "" {
		host = "127.0.0.1"
	}
	exposed := *cfg
	exposed.RPCBindHost = host
	if err := exposed.CheckRPCAuth(); err != nil {
		return nil, sc, err
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, sc, fmt.Errorf("listen for agents (rpc_bind_host/rpc_bind_port): %w", err)
	}
	return lis, sc, nil
}

// ListenAndServe runs the agents' server of neutrino server on
// rpc_bind_host:rpc_bind_port until ctx ends. It returns the Server
// (for Nudge) through started, once listening.
func ListenAndServe(ctx context.Context, cfg *config.Server, backend Backend, logger *slog.Logger, started func(*Server)) error {
	lis, sc, err := listen(ctx, cfg, logger)
	if err != nil {
		return err
	}
	s := NewServer(backend, sc)
	if started != nil {
		started(s)
	}
	return s.Serve(ctx, lis)
}
