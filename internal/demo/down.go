package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"neutrino/internal/lab"
)

// refuseIfUp fails when the control directory names a demo that still has
// a process or a namespace; a record whose demo is entirely gone (a crash
// after cleanup) is removed.
func refuseIfUp(dir string) error {
	c, err := readControl(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if up := stillUp(c); len(up) > 0 {
		if len(up) > 3 {
			up = append(up[:3], fmt.Sprintf("and %d more", len(up)-3))
		}
		return fmt.Errorf("%w (%s %s: %s): run `neutrino demo down` first", errDemoUp, c.Mechanism, c.Prefix, strings.Join(up, ", "))
	}
	return removeControl(dir)
}

// stillUp lists what of a recorded demo still exists.
func stillUp(c Control) []string {
	var up []string
	for _, p := range c.Procs {
		if alive(p.PID, p.Program) {
			up = append(up, fmt.Sprintf("%s pid %d", p.Name, p.PID))
		}
	}
	if c.Prefix != "" {
		if ents, err := os.ReadDir("/run/netns"); err == nil {
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), c.Prefix+"-") {
					up = append(up, "netns "+e.Name())
				}
			}
		}
	}
	for _, ns := range routerNamespaces(c.L3StateDir) {
		if lab.NSExists(ns) {
			up = append(up, "netns "+ns)
		}
	}
	return up
}

// Down removes a demo left by `--keep` (or a crashed run) from its control
// file: processes by PID (checked against /proc), the OVS run directories,
// then every namespace under the demo's prefix. The state directory with
// logs and captures is kept.
func Down(ctx context.Context, dir string, out io.Writer) error {
	if dir == "" {
		dir = lab.StateDir("")
	}
	c, err := readControl(dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "No demo is recorded in %s: nothing to do.\n", dir)
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	// Agents first, then the server, then OVS (switch before database).
	order := func(p ProcRecord) int {
		switch {
		case strings.HasPrefix(p.Name, "agent"):
			return 0
		case p.Name == "server":
			return 1
		case p.Program == "ovs-vswitchd":
			return 2
		}
		return 3
	}
	for rank := 0; rank <= 3; rank++ {
		for _, p := range c.Procs {
			if order(p) != rank {
				continue
			}
			if alive(p.PID, p.Program) {
				fmt.Fprintf(out, "stopping %s (pid %d)\n", p.Name, p.PID)
			}
			if err := killRecorded(ctx, p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := removeDHCPState(ctx, c.DHCPConfsDir, c.DHCPHostNS); err != nil {
		errs = append(errs, fmt.Errorf("DHCP agent's dnsmasq and namespaces: %w", err))
	}
	if err := removeL3State(c.L3StateDir); err != nil {
		errs = append(errs, fmt.Errorf("L3 agent's qrouter- namespaces: %w", err))
	}
	for _, d := range c.OVSRunDirs {
		if !strings.HasPrefix(filepath.Base(d), c.Prefix+"-") {
			errs = append(errs, fmt.Errorf("not removing %s: not a run directory of %s", d, c.Prefix))
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Prefix != "" {
		fmt.Fprintf(out, "deleting namespaces %s-*\n", c.Prefix)
		if err := lab.TeardownPrefix(ctx, c.Prefix); err != nil {
			errs = append(errs, err)
		}
	}
	if up := stillUp(c); len(up) > 0 {
		errs = append(errs, fmt.Errorf("still up: %s", strings.Join(up, ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo %s removed (logs and captures stay in %s)\n", c.Prefix, c.Dir)
	return removeControl(dir)
}
