package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// StateFileName is the lab state file inside the state directory
// (`--state-dir`, env NEUTRINO_STATE_DIR, default DefaultStateDir).
const StateFileName = "lab.json"

// DefaultStateDir is used when neither flag nor environment name one.
const DefaultStateDir = "/run/neutrino"

// State is the lab state file: which namespace is which host, so that
// `neutrino vm boot --host compute1` knows where to plug, and which VMs the
// lab booted, so that `vm list` and `vm delete` and `demo down` find them.
// The demo (or a test) writes Prefix, Mechanism and Hosts; `vm boot` and
// `vm delete` add and remove VMs.
//
//	{
//	  "prefix": "nt-3fa9c1",
//	  "mechanism": "linuxbridge",
//	  "hosts": {"compute1": {"namespace": "nt-3fa9c1-compute1",
//	                         "local_ip": "198.18.0.102", "mechanism": "linuxbridge"}},
//	  "vms": {"<instance uuid>": {"name": "vm1", "host": "compute1",
//	          "namespace": "nt-3fa9c1-vm-<instance uuid>", "port_id": "..."}}
//	}
type State struct {
	// Prefix is the lab's namespace prefix ("nt-<6 hex>").
	Prefix string `json:"prefix"`
	// Mechanism is the lab-wide default: "linuxbridge" or "openvswitch".
	Mechanism string              `json:"mechanism"`
	Hosts     map[string]Host     `json:"hosts"`
	VMs       map[string]VMRecord `json:"vms,omitempty"`
	// Processes are long-running processes a kept lab leaves running
	// (server, agents), by role, so `demo down` can stop them by PID.
	Processes map[string]ProcRecord `json:"processes,omitempty"`
}

// ProcRecord names a process by PID and its command line, so a recycled
// PID is never signalled (StopRecorded checks /proc first).
type ProcRecord struct {
	PID int    `json:"pid"`
	Cmd string `json:"cmd"` // argv joined by spaces, as /proc/PID/cmdline shows it
}

// Record returns the ProcRecord of a process this process started.
func (p *Proc) Record() ProcRecord {
	return ProcRecord{PID: p.PID(), Cmd: strings.Join(p.Cmd.Args, " ")}
}

// Host is one node of the lab.
type Host struct {
	Namespace string     `json:"namespace"`
	LocalIP   netip.Addr `json:"local_ip"`
	// Mechanism is how VIFs are plugged on this host: "linuxbridge" (a tap
	// veth the agent enslaves) or "openvswitch" (H6's OVS plugging).
	Mechanism string `json:"mechanism"`
	// OVSRunDir is the node's private OVS run directory (db.sock) when
	// Mechanism is "openvswitch".
	OVSRunDir string `json:"ovs_run_dir,omitempty"`
}

// VMRecord is a VM booted by `neutrino vm boot`; its id is the instance
// uuid (the port's device_id).
type VMRecord struct {
	Name      string `json:"name"`
	Host      string `json:"host"`
	Namespace string `json:"namespace"`
	PortID    string `json:"port_id"`
	// DHCP is what the VM got by DHCP at boot (nil: nothing yet).
	DHCP *Lease `json:"dhcp,omitempty"`
}

// HostState returns the lab's nodes as state-file hosts.
func (l *Lab) HostState(mechanism string) map[string]Host {
	out := map[string]Host{}
	for _, n := range l.Nodes() {
		out[n.Name] = Host{Namespace: n.NS, LocalIP: n.IP(), Mechanism: mechanism}
	}
	return out
}

// StateDir returns dir, or NEUTRINO_STATE_DIR, or DefaultStateDir.
func StateDir(dir string) string {
	if dir != "" {
		return dir
	}
	if d := os.Getenv("NEUTRINO_STATE_DIR"); d != "" {
		return d
	}
	return DefaultStateDir
}

// ReadState reads dir/lab.json.
func ReadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, StateFileName))
	if errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("no lab state in %s (start one with `neutrino demo --keep`): %w", dir, err)
	}
	if err != nil {
		return s, fmt.Errorf("read lab state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("parse %s: %w", filepath.Join(dir, StateFileName), err)
	}
	return s, nil
}

// WriteState replaces dir/lab.json atomically.
func WriteState(dir string, s State) error {
	return UpdateState(dir, func(cur *State) error { *cur = s; return nil })
}

// UpdateState reads, changes and writes dir/lab.json under an exclusive
// lock, so concurrent `vm boot` runs do not lose each other's VMs.
func UpdateState(dir string, fn func(*State) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, StateFileName+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock lab state: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock lab state: %w", err)
	}
	s, err := ReadState(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := fn(&s); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, StateFileName+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, StateFileName)); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}
