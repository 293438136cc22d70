// Package sharedtest finds the session's shared/ folder (conformance
// recordings, the seed configuration) for tests. CI runs in a fresh clone
// with shared/ copied beside it, so the folder is looked up relative to the
// repository root first; /work/shared is where a development session has it.
package sharedtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Path returns shared/<rel> as a directory that exists. The environment
// variable env, when set, names the directory outright; otherwise
// <repo root>/../shared/<rel> and then /work/shared/<rel> are tried. The test
// fails, naming env, when none exists.
func Path(t testing.TB, env, rel string) string {
	t.Helper()
	if d := os.Getenv(env); d != "" {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("%s=%s: %v", env, d, err)
		}
		return d
	}
	var tried []string
	if root, err := repoRoot(); err == nil {
		tried = append(tried, filepath.Join(filepath.Dir(root), "shared", rel))
	}
	tried = append(tried, filepath.Join("/work/shared", rel))
	for _, d := range tried {
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	t.Fatalf("shared/%s not found (tried %v); set %s", rel, tried, env)
	return ""
}

// repoRoot walks up from the working directory (go test runs in the
// package's directory) to the folder holding go.mod.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("no go.mod above the working directory")
		}
		d = up
	}
}
