package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// OVS is one node's private Open vSwitch: an ovsdb-server and an
// ovs-vswitchd running inside the node's network namespace, with every
// socket, pidfile, log and the database under RunDir. Both daemons are
// children of this process (not --detach), so Stop ends exactly the
// processes StartOVS started, by PID, after checking that the pidfile the
// daemon wrote names the same PID.
type OVS struct {
	// Namespace is the `ip netns` name the daemons run in.
	Namespace string
	// RunDir holds conf.db, db.sock, <bridge>.mgmt, pidfiles and logs.
	RunDir string

	log     *slog.Logger
	dbProc  *exec.Cmd
	swProc  *exec.Cmd
	dbDone  chan struct{}
	swDone  chan struct{}
	ownsDir bool
	started []int // every daemon PID ever started, for leak checks
	// underlayRoute is the ovs/route/add arguments SetupBrPhy gave
	// ovs-vswitchd, given again after a restart (they live in its memory).
	underlayRoute []string
}

// OVSSchema is Debian's Open_vSwitch schema.
const OVSSchema = "/usr/share/openvswitch/vswitch.ovsschema"

// StartOVS creates a fresh database under runDir (created when missing and
// then removed again by Stop) and starts ovsdb-server and ovs-vswitchd in
// namespace ns. On any failure it stops what it started.
func StartOVS(ctx context.Context, ns, runDir string, log *slog.Logger) (*OVS, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &OVS{Namespace: ns, RunDir: runDir, log: log}
	if _, err := os.Stat(runDir); errors.Is(err, os.ErrNotExist) {
		o.ownsDir = true
	}
	if err := os.MkdirAll(runDir, 0o750); err != nil {
		return nil, fmt.Errorf("start ovs in %s: %w", ns, err)
	}
	fail := func(err error) (*OVS, error) {
		if serr := o.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		return nil, fmt.Errorf("start ovs in %s: %w", ns, err)
	}
	db := filepath.Join(runDir, "conf.db")
	if out, err := exec.CommandContext(ctx, "ovsdb-tool", "create", db, OVSSchema).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("ovsdb-tool create: %w: %s", err, out))
	}
	if err := o.startOVSDB(ctx); err != nil {
		return fail(err)
	}
	if out, err := o.Vsctl(ctx, "--no-wait", "init"); err != nil {
		return fail(fmt.Errorf("ovs-vsctl init: %w: %s", err, out))
	}
	if err := o.startVswitchd(ctx); err != nil {
		return fail(err)
	}
	log.Debug("ovs started", "ns", ns, "rundir", runDir, "ovsdb_pid", o.dbProc.Process.Pid, "vswitchd_pid", o.swProc.Process.Pid)
	return o, nil
}

func (o *OVS) startOVSDB(ctx context.Context) error {
	o.dbProc = o.command("ovsdb-server", filepath.Join(o.RunDir, "conf.db"),
		"--remote=punix:"+o.DBSocketPath(),
		"--pidfile="+filepath.Join(o.RunDir, "ovsdb-server.pid"),
		"--unixctl="+filepath.Join(o.RunDir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(o.RunDir, "ovsdb-server.log"),
		"-vconsole:off")
	if err := o.dbProc.Start(); err != nil {
		o.dbProc = nil
		return fmt.Errorf("ovsdb-server: %w", err)
	}
	o.dbDone = reap(o.dbProc)
	o.started = append(o.started, o.dbProc.Process.Pid)
	if err := waitFor(ctx, o.dbDone, func() bool { return exists(o.DBSocketPath()) }); err != nil {
		return fmt.Errorf("ovsdb-server socket: %w (log %s)", err, filepath.Join(o.RunDir, "ovsdb-server.log"))
	}
	return nil
}

// RestartOVSDB stops ovsdb-server and starts it again on the same
// database file: clients (the data plane's libovsdb session) must
// reconnect; ovs-vswitchd reconnects by itself.
func (o *OVS) RestartOVSDB(ctx context.Context) error { return o.restartOVSDB(ctx, false) }

// CrashOVSDB is RestartOVSDB with SIGKILL instead of SIGTERM: the daemon
// dies without closing anything, as in a crash.
func (o *OVS) CrashOVSDB(ctx context.Context) error { return o.restartOVSDB(ctx, true) }

func (o *OVS) restartOVSDB(ctx context.Context, crash bool) error {
	if err := o.end(crash, o.dbProc, o.dbDone, filepath.Join(o.RunDir, "ovsdb-server.pid")); err != nil {
		return fmt.Errorf("restart ovsdb-server in %s: %w", o.Namespace, err)
	}
	o.dbProc = nil
	_ = os.Remove(o.DBSocketPath())
	if err := o.startOVSDB(ctx); err != nil {
		return fmt.Errorf("restart ovsdb-server in %s: %w", o.Namespace, err)
	}
	return nil
}

func (o *OVS) startVswitchd(ctx context.Context) error {
	o.swProc = o.command("ovs-vswitchd", "unix:"+o.DBSocketPath(),
		"--pidfile="+filepath.Join(o.RunDir, "ovs-vswitchd.pid"),
		"--unixctl="+o.VswitchdCtl(),
		"--log-file="+filepath.Join(o.RunDir, "ovs-vswitchd.log"),
		"-vconsole:off")
	if err := o.swProc.Start(); err != nil {
		o.swProc = nil
		return fmt.Errorf("ovs-vswitchd: %w", err)
	}
	o.swDone = reap(o.swProc)
	o.started = append(o.started, o.swProc.Process.Pid)
	if err := waitFor(ctx, o.swDone, func() bool { return exists(o.VswitchdCtl()) }); err != nil {
		return fmt.Errorf("ovs-vswitchd control socket: %w (log %s)", err, filepath.Join(o.RunDir, "ovs-vswitchd.log"))
	}
	// A waited write returns only after ovs-vswitchd applied it
	// (cur_cfg caught up), so it proves the switch is serving.
	if out, err := o.Vsctl(ctx, "--timeout=20", "set", "Open_vSwitch", ".", "external_ids:neutrino-lab=ready"); err != nil {
		return fmt.Errorf("ovs-vswitchd ready: %w: %s", err, out)
	}
	return nil
}

// RestartVswitchd stops ovs-vswitchd and starts it again (the database
// stays): OpenFlow tables come back empty, as after an OVS upgrade or
// crash, which the data plane must detect and repair.
func (o *OVS) RestartVswitchd(ctx context.Context) error { return o.restartVswitchd(ctx, false) }

// CrashVswitchd is RestartVswitchd with SIGKILL instead of SIGTERM.
func (o *OVS) CrashVswitchd(ctx context.Context) error { return o.restartVswitchd(ctx, true) }

func (o *OVS) restartVswitchd(ctx context.Context, crash bool) error {
	if err := o.end(crash, o.swProc, o.swDone, filepath.Join(o.RunDir, "ovs-vswitchd.pid")); err != nil {
		return fmt.Errorf("restart ovs-vswitchd in %s: %w", o.Namespace, err)
	}
	o.swProc = nil
	_ = os.Remove(o.VswitchdCtl())
	if err := o.startVswitchd(ctx); err != nil {
		return fmt.Errorf("restart ovs-vswitchd in %s: %w", o.Namespace, err)
	}
	out, err := o.Vsctl(ctx, "list-br")
	if err != nil {
		return err
	}
	for _, br := range strings.Fields(out) {
		mgmt := filepath.Join(o.RunDir, br+".mgmt")
		if err := waitFor(ctx, o.swDone, func() bool { return exists(mgmt) }); err != nil {
			return fmt.Errorf("restart ovs-vswitchd in %s: %s: %w", o.Namespace, mgmt, err)
		}
	}
	if o.underlayRoute != nil {
		return o.addUnderlayRoute(ctx)
	}
	return nil
}

// command runs name inside the namespace with OVS_RUNDIR pointing at our
// run directory, so <bridge>.mgmt sockets land there too. `ip netns exec`
// execs the program in place, so the child's PID is the daemon's PID.
func (o *OVS) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", o.Namespace, name}, args...)...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+o.RunDir, "OVS_DBDIR="+o.RunDir, "OVS_LOGDIR="+o.RunDir)
	// Own process group: a Ctrl-C to the test binary is handled by our
	// cleanup, not delivered straight to the daemons.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func reap(cmd *exec.Cmd) chan struct{} {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return done
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func waitFor(ctx context.Context, died <-chan struct{}, ok func() bool) error {
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-died:
			return errors.New("daemon exited")
		case <-deadline.C:
			return errors.New("timed out after 20s")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// DBSocketPath is the ovsdb-server unix socket.
func (o *OVS) DBSocketPath() string { return filepath.Join(o.RunDir, "db.sock") }

// OVSDB is the connection string for the data plane's Config.OVSDB
// (Neutron's ovsdb_connection format).
func (o *OVS) OVSDB() string { return "unix:" + o.DBSocketPath() }

// VswitchdCtl is ovs-vswitchd's unixctl socket (for ovs-appctl -t).
func (o *OVS) VswitchdCtl() string { return filepath.Join(o.RunDir, "ovs-vswitchd.ctl") }

// Vsctl runs ovs-vsctl against this node's database.
func (o *OVS) Vsctl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, nil, "ovs-vsctl", append([]string{"--db=unix:" + o.DBSocketPath()}, args...)...)
}

// Ofctl runs ovs-ofctl with OVS_RUNDIR set, so a bridge name resolves to
// this node's <bridge>.mgmt socket.
func (o *OVS) Ofctl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, []string{"OVS_RUNDIR=" + o.RunDir}, "ovs-ofctl", args...)
}

// Appctl runs ovs-appctl against this node's ovs-vswitchd.
func (o *OVS) Appctl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, nil, "ovs-appctl", append([]string{"-t", o.VswitchdCtl()}, args...)...)
}

func run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// SetupBrPhy makes the node's underlay usable by OVS userspace tunnels:
// bridge br-phy (datapath_type netdev) owns the underlay interface and the
// VTEP address sits on br-phy's internal interface, because the netdev
// datapath routes and ARPs tunnel packets itself and only through an OVS
// bridge that holds the local IP. The underlay interface keeps no address
// and does no ARP: the netdev datapath reads it with AF_PACKET, so the
// kernel still sees its frames and would otherwise answer ARP for the
// VTEP with the interface's own MAC, which OVS does not take as its own
// (peers then tunnel into a black hole until their neighbour entry
// expires; a real NIC in a kernel-datapath bridge never reaches the IP
// stack). It also gives ovs-vswitchd a route of its own to the underlay
// subnet via bridge, as OVS's userspace tunneling guide does: the routes
// it caches from the kernel are flushed and read again on every link
// change in the namespace (a VM plugged), and a tunnel packet translated
// meanwhile found no route and was dropped (bench/chaos; ovs/route/add
// routes survive the flush).
func (o *OVS) SetupBrPhy(ctx context.Context, bridge, underlay string, vtep netip.Prefix) error {
	if _, err := o.Vsctl(ctx, "--timeout=20", "--may-exist", "add-br", bridge,
		"--", "set", "Bridge", bridge, "datapath_type=netdev",
		"--", "--may-exist", "add-port", bridge, underlay); err != nil {
		return fmt.Errorf("set up %s in %s: %w", bridge, o.Namespace, err)
	}
	for _, args := range [][]string{
		{"addr", "flush", "dev", underlay},
		{"link", "set", underlay, "arp", "off", "up"},
		{"addr", "replace", vtep.String(), "dev", bridge},
		{"link", "set", bridge, "up"},
	} {
		if _, err := run(ctx, nil, "ip", append([]string{"-n", o.Namespace}, args...)...); err != nil {
			return fmt.Errorf("set up %s in %s: %w", bridge, o.Namespace, err)
		}
	}
	o.underlayRoute = []string{"ovs/route/add", vtep.Masked().String(), bridge}
	return o.addUnderlayRoute(ctx)
}

// addUnderlayRoute gives ovs-vswitchd the underlay route, retrying while
// it has not yet seen the bridge's address (its source).
func (o *OVS) addUnderlayRoute(ctx context.Context) error {
	var last error
	err := waitFor(ctx, o.swDone, func() bool {
		_, last = o.Appctl(ctx, o.underlayRoute...)
		return last == nil
	})
	if err != nil {
		return fmt.Errorf("underlay route in %s: %w (last: %v)", o.Namespace, err, last)
	}
	return nil
}

// SetupProviderBridge does the operator's part of bridge_mappings: a
// provider bridge (datapath_type netdev) with the node's physical
// interface dev as a port. The agent adopts the bridge and joins it to
// br-int; it never creates it.
func (o *OVS) SetupProviderBridge(ctx context.Context, bridge, dev string) error {
	if _, err := o.Vsctl(ctx, "--timeout=20", "--may-exist", "add-br", bridge,
		"--", "set", "Bridge", bridge, "datapath_type=netdev",
		"--", "--may-exist", "add-port", bridge, dev); err != nil {
		return fmt.Errorf("set up %s in %s: %w", bridge, o.Namespace, err)
	}
	if _, err := run(ctx, nil, "ip", "-n", o.Namespace, "link", "set", dev, "up"); err != nil {
		return fmt.Errorf("set up %s in %s: %w", bridge, o.Namespace, err)
	}
	return nil
}

// Stop ends ovs-vswitchd, then ovsdb-server (SIGTERM, SIGKILL after 10 s),
// and removes the run directory when StartOVS created it. It is safe to
// call twice.
func (o *OVS) Stop() error {
	var errs []error
	errs = append(errs, o.stopProc(o.swProc, o.swDone, filepath.Join(o.RunDir, "ovs-vswitchd.pid")))
	o.swProc = nil
	errs = append(errs, o.stopProc(o.dbProc, o.dbDone, filepath.Join(o.RunDir, "ovsdb-server.pid")))
	o.dbProc = nil
	if o.ownsDir {
		if err := os.RemoveAll(o.RunDir); err != nil {
			errs = append(errs, err)
		} else {
			o.ownsDir = false
		}
	}
	return errors.Join(errs...)
}

// end stops a daemon (crash: SIGKILL at once, by our child's PID).
func (o *OVS) end(crash bool, cmd *exec.Cmd, done chan struct{}, pidfile string) error {
	if !crash {
		return o.stopProc(cmd, done, pidfile)
	}
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	_ = cmd.Process.Kill()
	<-done
	return nil
}

func (o *OVS) stopProc(cmd *exec.Cmd, done chan struct{}, pidfile string) error {
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	pid := cmd.Process.Pid
	select {
	case <-done:
		return nil // already gone (and reaped)
	default:
	}
	// The pidfile is the daemon's own claim; a mismatch means our child is
	// not the daemon we think it is, which we report but still end our
	// child (it is ours by construction).
	var errs []error
	if b, err := os.ReadFile(pidfile); err == nil {
		if got, _ := strconv.Atoi(strings.TrimSpace(string(b))); got != pid {
			errs = append(errs, fmt.Errorf("%s names pid %d, our child is %d", pidfile, got, pid))
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		errs = append(errs, fmt.Errorf("pid %d ignored SIGTERM, killed", pid))
	}
	o.log.Debug("ovs daemon stopped", "pid", pid, "ns", o.Namespace)
	return errors.Join(errs...)
}

// StartNodeOVS starts a private OVS for node (run directory
// <os.TempDir()>/<node namespace>-ovs, short enough for unix socket paths)
// and moves the node's VTEP address from its underlay device onto br-phy.
// On failure nothing is left running.
func StartNodeOVS(ctx context.Context, n *Node, log *slog.Logger) (*OVS, error) {
	o, err := StartOVS(ctx, n.NS, filepath.Join(os.TempDir(), n.NS+"-ovs"), log)
	if err != nil {
		return nil, err
	}
	if err := o.SetupBrPhy(ctx, "br-phy", n.Dev, n.Addr); err != nil {
		return nil, errors.Join(err, o.Stop())
	}
	return o, nil
}

// PlugVIF attaches a node-side device to an OVS bridge the way Nova/os-vif
// does: external_ids iface-id (the Neutron port id), attached-mac,
// iface-status=active and vm-uuid. The agent finds the port by these.
func (o *OVS) PlugVIF(ctx context.Context, bridge, dev, portID, mac, vmUUID string) error {
	args := []string{"--timeout=20", "--may-exist", "add-port", bridge, dev, "--", "set", "Interface", dev,
		"external_ids:iface-id=" + portID, "external_ids:attached-mac=" + mac, "external_ids:iface-status=active"}
	if vmUUID != "" {
		args = append(args, "external_ids:vm-uuid="+vmUUID)
	}
	if _, err := o.Vsctl(ctx, args...); err != nil {
		return fmt.Errorf("plug %s into %s: %w", dev, bridge, err)
	}
	return nil
}

// UnplugVIF removes the device's port from the bridge (if present).
func (o *OVS) UnplugVIF(ctx context.Context, bridge, dev string) error {
	if _, err := o.Vsctl(ctx, "--timeout=20", "--if-exists", "del-port", bridge, dev); err != nil {
		return fmt.Errorf("unplug %s from %s: %w", dev, bridge, err)
	}
	return nil
}

// PIDs returns every daemon PID this OVS started (also restarted ones and
// ones already stopped), for leak checks: none may be alive after Stop.
func (o *OVS) PIDs() []int { return append([]int(nil), o.started...) }

// DisableOffloads turns off checksum offload and segmentation offloads on
// dev in namespace ns. A VM interface whose peer is a port of an OVS
// userspace (netdev) bridge needs this: ovs-vswitchd reads the peer with
// AF_PACKET and neither completes partial checksums nor segments GSO
// frames, so TCP from the VM would otherwise be dropped (ping still works,
// ICMP checksums are always complete). Needs ethtool (Debian package).
func DisableOffloads(ctx context.Context, ns, dev string) error {
	if _, err := run(ctx, nil, "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off"); err != nil {
		return fmt.Errorf("disable offloads on %s in %s: %w", dev, ns, err)
	}
	return nil
}

// StopOVSRunDir stops the OVS daemons of a run directory from another
// process than the one that started them (`neutrino demo down` after
// `demo --keep`): for ovs-vswitchd then ovsdb-server it reads the pidfile,
// checks that the process is that daemon started for this run directory
// (its command line names both), and ends it by PID (SIGTERM, SIGKILL after
// 10 s). Then it removes the run directory. Missing pidfiles or processes
// are not errors, so it is safe to call twice.
func StopOVSRunDir(ctx context.Context, runDir string) error {
	runDir = filepath.Clean(runDir)
	var errs []error
	for _, daemon := range []string{"ovs-vswitchd", "ovsdb-server"} {
		b, err := os.ReadFile(filepath.Join(runDir, daemon+".pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			errs = append(errs, fmt.Errorf("%s: bad pidfile %q", daemon, b))
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue // not running
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if filepath.Base(args[0]) != daemon || !strings.Contains(string(cmdline), runDir+"/") {
			errs = append(errs, fmt.Errorf("pid %d from %s.pid is not our %s (%q); not touching it", pid, daemon, daemon, strings.Join(args, " ")))
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if !waitGone(ctx, pid, 10*time.Second) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			if !waitGone(ctx, pid, 5*time.Second) {
				errs = append(errs, fmt.Errorf("%s pid %d does not exit", daemon, pid))
			}
		}
	}
	if len(errs) == 0 {
		if _, err := os.Stat(filepath.Join(runDir, "conf.db")); err == nil {
			if err := os.RemoveAll(runDir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// waitGone waits until pid has exited (or is a zombie of another parent).
func waitGone(ctx context.Context, pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		// Field 3 is the state; Z = exited, waiting for its parent.
		if i := strings.LastIndexByte(string(st), ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
