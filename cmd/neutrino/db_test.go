package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"neutrino/internal/sharedtest"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

func runDB(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := dbCmd(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// `neutrino db upgrade head` / `db current` on the seed's files, with the
// database pointed at a fresh MariaDB database by an override file.
func TestDBUpgradeSeed(t *testing.T) {
	seed := sharedtest.Path(t, "NEUTRINO_SEED_ETC", "seed/etc")
	url := storetest.URL(t, store.MySQL)
	over := filepath.Join(t.TempDir(), "db.conf")
	if err := os.WriteFile(over, []byte("[database]\nconnection = "+strings.Replace(url, "mysql://", "mysql+pymysql://", 1)+"?charset=utf8\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := []string{"--config-file", filepath.Join(seed, "neutron.conf"), "--config-file", filepath.Join(seed, "ml2_conf.ini"), "--config-file", over}
	out, err := runDB(t, append([]string{"current"}, files...)...)
	if err != nil || !strings.Contains(out, ": 0 (head is ") || !strings.Contains(out, "neutrino db upgrade head") {
		t.Fatalf("current before upgrade: %q %v", out, err)
	}
	out, err = runDB(t, append([]string{"upgrade", "head"}, files...)...)
	if err != nil || !strings.Contains(out, "(head)") {
		t.Fatalf("upgrade: %q %v", out, err)
	}
	if strings.Contains(out, ":neutrino@") {
		t.Fatalf("password printed: %q", out)
	}
	out, err = runDB(t, append([]string{"current"}, files...)...)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "(head)") {
		t.Fatalf("current after upgrade: %q %v", out, err)
	}
	if _, err := runDB(t, append([]string{"upgrade", "base"}, files...)...); err == nil {
		t.Fatal("upgrade base accepted")
	}
}

func TestDBUpgradeSQLiteDefault(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "neutron.conf")
	os.WriteFile(conf, []byte("[DEFAULT]\nstate_path = "+dir+"\n"), 0o600)
	out, err := runDB(t, "upgrade", "head", "--config-file", conf)
	if err != nil || !strings.Contains(out, "sqlite:///"+filepath.Join(dir, "neutrino.sqlite")) {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "neutrino.sqlite")); err != nil {
		t.Fatal(err)
	}
}
