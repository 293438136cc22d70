package rpc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"neutrino/internal/config"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc/rpctest"
)

type pki struct {
	dir string
	ca  *x509.Certificate
	key *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), ca: ca, key: key}
	p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue writes a certificate and key signed by the CA; it returns their
// paths. name is the subject CN (and the file name); dnsNames become
// subject alternative names.
func (p *pki) issue(t *testing.T, name string, server bool, dnsNames ...string) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		DNSNames: dnsNames}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	scert, skey := p.issue(t, "server", true)
	ccert, ckey := p.issue(t, "h1", false)
	ca := filepath.Join(p.dir, "ca.pem")

	sc, err := ServerConfigFor(&config.Server{RPCTLSCert: scert, RPCTLSKey: skey, RPCTLSClientCA: ca}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mem := rpctest.NewMemory()
	h := startServer(t, mem, sc, "")
	url := "grpc://" + h.addr
	ctx := context.Background()
	report := neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Host: "h1"}

	// With the client certificate: accepted.
	cc, err := ClientConfigFor(&config.Agent{TransportURL: url, RPCTLSCA: ca, RPCTLSCert: ccert, RPCTLSKey: ckey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, h.addr, cc).ReportState(ctx, report); err != nil {
		t.Fatalf("agent with a client certificate refused: %v", err)
	}

	// TLS without a client certificate: refused and logged.
	cc, err = ClientConfigFor(&config.Agent{TransportURL: url, RPCTLSCA: ca})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dial(t, h.addr, cc).ReportState(ctx, report)
	if status.Code(errors.Unwrap(err)) != codes.Unauthenticated {
		t.Errorf("agent without a client certificate: %v, want Unauthenticated", err)
	}
	if !strings.Contains(h.logs.String(), "no verified client certificate") {
		t.Errorf("refusal not logged:\n%s", h.logs)
	}

	// A certificate from another CA fails the handshake.
	other := newPKI(t)
	ocert, okey := other.issue(t, "intruder", false)
	cc, err = ClientConfigFor(&config.Agent{TransportURL: url, RPCTLSCA: ca, RPCTLSCert: ocert, RPCTLSKey: okey})
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := dial(t, h.addr, cc).ReportState(tctx, report); err == nil {
		t.Error("agent with a foreign certificate accepted")
	}

	// Plain text to a TLS server: refused.
	if _, err := dial(t, h.addr, ClientConfig{}).ReportState(tctx, report); err == nil {
		t.Error("plain-text agent accepted by a TLS server")
	}
	if n := len(mem.Agents()); n != 1 {
		t.Errorf("%d agents registered, want 1", n)
	}
}

// With mutual TLS an agent speaks only for the host its certificate
// names (DNS SANs; the CN when it has none): report_state, update_device
// and watch for another host are PermissionDenied, for its own host they
// work.
func TestMutualTLSHostBinding(t *testing.T) {
	p := newPKI(t)
	scert, skey := p.issue(t, "server", true)
	ca := filepath.Join(p.dir, "ca.pem")
	sc, err := ServerConfigFor(&config.Server{RPCTLSCert: scert, RPCTLSKey: skey, RPCTLSClientCA: ca}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mem := rpctest.NewMemory()
	mem.CreateNetwork("net-a", 1001)
	mem.PutPort("port-a", "net-a", "compute-a", "fa:16:3e:00:00:0a", "10.0.0.10")
	mem.PutPort("port-b", "net-a", "compute-b", "fa:16:3e:00:00:0b", "10.0.0.11")
	h := startServer(t, mem, sc, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	agent := func(cn string, dnsNames ...string) *Client {
		cert, key := p.issue(t, cn, false, dnsNames...)
		cc, err := ClientConfigFor(&config.Agent{TransportURL: "grpc://" + h.addr, RPCTLSCA: ca, RPCTLSCert: cert, RPCTLSKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return dial(t, h.addr, cc)
	}
	watchOnce := func(c *Client, host string) error {
		err := c.Watch(ctx, host, 0, func(Update) error { return errSeen })
		if errors.Is(err, errSeen) {
			return nil
		}
		return err
	}
	denied := func(what string, err error) {
		t.Helper()
		if status.Code(errors.Unwrap(err)) != codes.PermissionDenied {
			t.Errorf("%s: %v, want PermissionDenied", what, err)
		}
	}
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v, want success", what, err)
		}
	}

	// A certificate with CN=compute-a and no DNS names.
	a := agent("compute-a")
	allowed("A reports for A", second(a.ReportState(ctx, neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Host: "compute-a"})))
	allowed("A sets its port up", second(a.UpdateDevice(ctx, "compute-a", "port-a", true)))
	allowed("A watches A", watchOnce(a, "compute-a"))
	denied("A reports for B", second(a.ReportState(ctx, neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Host: "compute-b"})))
	denied("A sets B's port up", second(a.UpdateDevice(ctx, "compute-b", "port-b", true)))
	denied("A watches B", watchOnce(a, "compute-b"))

	// A certificate naming compute-b in its DNS SAN: the CN no longer counts.
	b := agent("not-a-host", "compute-b")
	allowed("B (SAN) reports for B", second(b.ReportState(ctx, neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Host: "compute-b"})))
	allowed("B (SAN) watches B", watchOnce(b, "compute-b"))
	denied("B (SAN) reports for its CN", second(b.ReportState(ctx, neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Host: "not-a-host"})))
	denied("B (SAN) watches A", watchOnce(b, "compute-a"))

	hosts := map[string]bool{}
	for _, ag := range mem.Agents() {
		hosts[ag.Host] = true
	}
	if len(hosts) != 2 || !hosts["compute-a"] || !hosts["compute-b"] {
		t.Errorf("registered agents on %v, want compute-a and compute-b only", hosts)
	}
	if pb, _ := mem.Port("port-b"); pb.Status == neutron.StatusActive {
		t.Error("compute-a's certificate set compute-b's port up")
	}
	if pa, _ := mem.Port("port-a"); pa.Status != neutron.StatusActive {
		t.Errorf("port-a is %s after its own agent set it up", pa.Status)
	}
	if n := strings.Count(h.logs.String(), "client certificate names"); n != 5 {
		t.Errorf("%d host refusals logged, want 5:\n%s", n, h.logs)
	}
}

var errSeen = errors.New("got a message")

func second[T any](_ T, err error) error { return err }
