package apitest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"neutrino/internal/api"
	"neutrino/internal/config"
	"neutrino/internal/ml2"
	"neutrino/internal/store"
)

// ReferenceINI is the ML2 configuration of the recorded Neutron
// (conformance/neutron-api/README.md).
const ReferenceINI = `[DEFAULT]
core_plugin = ml2
auth_strategy = noauth
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = openvswitch,l2population
[ml2_type_flat]
flat_networks = *
[ml2_type_vxlan]
vni_ranges = 1001:2000
`

// LoadConfig writes ini to dir and loads it as `neutrino server` would.
func LoadConfig(dir, ini string) (*config.Server, error) {
	p := filepath.Join(dir, "neutron.conf")
	if err := os.WriteFile(p, []byte(ini), 0o600); err != nil {
		return nil, err
	}
	cfg, _, err := config.LoadServer(p)
	return cfg, err
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// FreshDatabase creates an empty database next to the one adminURL names
// (PostgreSQL or MySQL/MariaDB) and returns its URL and a function that
// drops it. Tests run concurrently with other engineers' tests on the
// shared servers, so every run gets its own database.
func FreshDatabase(ctx context.Context, adminURL string) (string, func(), error) {
	t, err := store.ParseURL(adminURL)
	if err != nil {
		return "", nil, err
	}
	if t.Dialect == store.SQLite {
		return "", nil, fmt.Errorf("FreshDatabase is for server databases, not %s", t.Redacted)
	}
	db, err := sql.Open(t.Driver, t.DSN)
	if err != nil {
		return "", nil, err
	}
	name := "neutrino_api_" + randHex(5)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create database %s on %s: %w", name, t.Redacted, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		db.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		db.ExecContext(context.Background(), "DROP DATABASE "+name+dropSuffix(t.Dialect))
		db.Close()
	}
	return u.String(), drop, nil
}

func dropSuffix(d store.Dialect) string {
	if d == store.Postgres {
		return " WITH (FORCE)"
	}
	return ""
}

// Stack is a migrated store, the ML2 plugin on it and the API handler.
type Stack struct {
	Store   *store.Store
	Plugin  *ml2.Plugin
	Handler *api.Server
	Config  *config.Server
}

// Close closes the store.
func (s *Stack) Close() { s.Store.Close() }

// NewStack opens and migrates dbURL ("" = an SQLite file in dir) and
// builds the plugin and handler for cfg.
func NewStack(ctx context.Context, dir, dbURL string, cfg *config.Server, logger *slog.Logger) (*Stack, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if dbURL == "" {
		dbURL = "sqlite:///" + filepath.Join(dir, "neutrino.sqlite")
	}
	st, err := store.Open(ctx, dbURL, logger)
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	p, err := ml2.New(ctx, st, cfg, logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	h := api.New(p, api.Options{
		AuthStrategy:   cfg.AuthStrategy,
		MaxRequestBody: int64(cfg.MaxRequestBody),
		PortSecurity:   contains(cfg.ExtensionDrivers, "port_security"),
		Logger:         logger,
	})
	return &Stack{Store: st, Plugin: p, Handler: h, Config: cfg}, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
