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

// issue writes a certificate and key signed by the CA; it returns their paths.
func (p *pki) issue(t *testing.T, name string, server bool) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
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
	ccert, ckey := p.issue(t, "agent", false)
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
