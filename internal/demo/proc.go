package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ControlFileName is the demo's record of what it made, next to the lab
// state file (lab.json) in the lab state directory.
const ControlFileName = "demo.json"

// Control is the control file: enough to remove a demo from another
// process (`neutrino demo down`).
type Control struct {
	Prefix    string `json:"prefix"`
	Mechanism string `json:"mechanism"`
	Dir       string `json:"dir"`
	APIURL    string `json:"api_url,omitempty"`
	// Procs are the server's, the agents' and the OVS daemons' PIDs with
	// the program name /proc/PID/cmdline must show.
	Procs []ProcRecord `json:"procs"`
	// OVSRunDirs are removed after the OVS daemons are gone.
	OVSRunDirs []string `json:"ovs_run_dirs,omitempty"`
	// DHCPConfsDir is the DHCP agent's dhcp_confs and DHCPHostNS its
	// host_namespace: what it left running (dnsmasq, qdhcp- namespaces,
	// taps) is removed from there once it is stopped.
	DHCPConfsDir string `json:"dhcp_confs_dir,omitempty"`
	DHCPHostNS   string `json:"dhcp_host_ns,omitempty"`
	// L3StateDir is the L3 agent's state_path: the routers it made
	// (their qrouter- namespaces) are removed from there once it is
	// stopped.
	L3StateDir string `json:"l3_state_dir,omitempty"`
}

// ProcRecord is one process the demo started.
type ProcRecord struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Program string `json:"program"`
}

func readControl(dir string) (Control, error) {
	var c Control
	b, err := os.ReadFile(filepath.Join(dir, ControlFileName))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse %s: %w", filepath.Join(dir, ControlFileName), err)
	}
	return c, nil
}

func writeControl(dir string, c Control) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("control dir: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ControlFileName+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write control file: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, ControlFileName))
}

// alive reports whether pid runs program (its argv[0] or argv[1] base
// name, since `neutrino` runs as the binary itself and OVS daemons are
// exec'd in place by `ip netns exec`).
func alive(pid int, program string) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// A zombie (already exited, not yet reaped) is not running.
		if i := strings.LastIndexByte(string(st), ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
			return false
		}
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	return len(args) > 0 && filepath.Base(args[0]) == program
}

// child is a server or agent process: the same binary, its output in a
// log file, in its own process group (a Ctrl-C reaches only the demo,
// which then stops its children itself).
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startChild(bin, name, logPath string, args ...string) (*child, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits (SIGKILL after 5 s).
func (c *child) stop() error {
	if c == nil || c.exited() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = c.cmd.Process.Kill()
	<-c.done
	return fmt.Errorf("%s (pid %d) ignored SIGTERM and was killed", c.name, c.pid())
}

// killRecorded ends a process recorded in a control file: only if it still
// runs the recorded program (a recycled PID is left alone).
func killRecorded(ctx context.Context, p ProcRecord) error {
	if !alive(p.PID, p.Program) {
		return nil
	}
	proc, err := os.FindProcess(p.PID)
	if err != nil {
		return nil
	}
	_ = proc.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for alive(p.PID, p.Program) {
		if time.Now().After(deadline) {
			_ = proc.Signal(syscall.SIGKILL)
			time.Sleep(100 * time.Millisecond)
			if alive(p.PID, p.Program) {
				return fmt.Errorf("%s (pid %d) did not exit", p.Name, p.PID)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// poll calls ok every 50 ms until it returns true, ctx ends or timeout
// passes; the error names what was awaited and the last reason.
func poll(ctx context.Context, what string, timeout time.Duration, ok func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		done, why := ok()
		if done {
			return nil
		}
		if why != "" {
			last = why
		}
		if time.Now().After(deadline) {
			if last != "" {
				return fmt.Errorf("%s: not done after %s: %s", what, timeout, last)
			}
			return fmt.Errorf("%s: not done after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var errDemoUp = errors.New("a previous demo is still up")
