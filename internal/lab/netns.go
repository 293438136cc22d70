package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named namespaces are bind-mounted (as `ip netns` does).
const netnsDir = "/run/netns"

// RunEnv names the environment variable that marks a test run: its value
// is the run's directory (scripts/test.sh makes it). Every process a test
// starts inherits it, which is how scripts/leakcheck.sh finds the
// processes of this run and no one else's; CreateNS appends each name it
// creates to the file "netns" there, so the leak check looks only at
// namespaces this run made.
const RunEnv = "NEUTRINO_TEST_RUN"

// InNS runs fn on an OS thread switched into the named namespace. Processes
// started by fn inherit that namespace. If the thread cannot be switched
// back it stays locked, so the Go runtime discards it with the goroutine.
// An empty name runs fn where the caller is.
func InNS(name string, fn func() error) error {
	if name == "" {
		return fn() // the caller's own namespace
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns %s: %w", name, err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it dies with this goroutine.
		return errors.Join(fnErr, fmt.Errorf("leave netns %s: %w", name, err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// prepareNetnsDir makes /run/netns a shared mount point of its own, as
// iproute2's `ip netns add` does before each namespace: make it shared
// (recursively); if that fails with EINVAL it is no mount point yet, so
// bind-mount it (recursively) onto itself once and try again.
//
// Without this, the namespaces are bind-mounted into a plain directory of
// the enclosing mount, and the next `ip netns add` (any tool's) bind-mounts
// /run/netns over itself: its copies of our mounts hide the originals, so
// deleting a namespace unmounts only the copy and removing the file fails
// with EBUSY, the namespace staying alive underneath. With /run/netns
// shared first, a later bind of it joins its peer group and an unmount of
// either copy propagates to the other.
func prepareNetnsDir() error {
	if err := os.Mkdir(netnsDir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("mkdir %s: %w", netnsDir, err)
	}
	bound := false
	for {
		err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || bound {
			return fmt.Errorf("mount --make-rshared %s: %w", netnsDir, err)
		}
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mount --rbind %s %s: %w", netnsDir, netnsDir, err)
		}
		bound = true
	}
}

// netnsLock is a lock file for /run/netns's mount: CreateNS holds it
// shared from preparing /run/netns until its namespace is mounted there;
// whoever unmounts an empty /run/netns (.ci/run, to start from a
// just-booted state) holds it exclusively, so the unmount never lands
// between another test's preparation and its mount. iproute2 knows
// nothing of it: that window, between two syscalls of `ip netns add`, is
// iproute2's own.
const netnsLock = "/run/neutrino-netns.lock"

// lockNetnsDir takes netnsLock shared and returns its release.
func lockNetnsDir() (func(), error) {
	f, err := os.OpenFile(netnsLock, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", netnsLock, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_SH)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", netnsLock, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// recordNS appends name to the run directory's "netns" file when this
// process belongs to a test run (RunEnv), before the namespace exists, so
// that even a namespace left half-made is checked for.
func recordNS(name string) error {
	dir := os.Getenv(RunEnv)
	if dir == "" {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, "netns"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("record netns %s for the leak check: %w", name, err)
	}
	// One short write with O_APPEND: lines from parallel processes do not mix.
	_, err = f.WriteString(name + "\n")
	return errors.Join(err, f.Close())
}

// CreateNS creates a named namespace with its loopback up and IPv6 off,
// leaving the calling thread where it was. Every named namespace the
// repository makes (labs, the demo, tests, bench programs) is made here.
func CreateNS(name string) error {
	if name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("create netns: bad name %q", name)
	}
	if err := recordNS(name); err != nil {
		return err
	}
	unlock, err := lockNetnsDir()
	if err != nil {
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	defer unlock()
	if err := prepareNetnsDir(); err != nil {
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if err != nil {
		if serr := netns.Set(orig); serr == nil {
			runtime.UnlockOSThread()
		}
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	h.Close()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("leave new netns %s: %w", name, err)
	}
	runtime.UnlockOSThread()
	// No IPv6: link-local addresses would send router solicitations, MLD
	// and DAD probes that flood over the overlay and spoil packet counts.
	if err := InNS(name, func() error {
		for _, k := range []string{"all", "default"} {
			err := os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/disable_ipv6", []byte("1"), 0o644)
			if err != nil && !errors.Is(err, os.ErrNotExist) { // no IPv6 in this kernel: fine
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("netns %s: disable ipv6: %w", name, err)
	}
	nh, err := Handle(name)
	if err != nil {
		return err
	}
	defer nh.Close()
	lo, err := nh.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netns %s: find lo: %w", name, err)
	}
	if err := nh.LinkSetUp(lo); err != nil {
		return fmt.Errorf("netns %s: lo up: %w", name, err)
	}
	return nil
}

// DeleteNS removes a named namespace; a missing one is not an error, so
// teardown is idempotent.
func DeleteNS(name string) error {
	p := filepath.Join(netnsDir, name)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		// A mount point that is not mounted any more still needs removing.
		if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return fmt.Errorf("delete netns %s: %w", name, err)
		}
	}
	return nil
}

// listNS returns the named namespaces whose name starts with prefix.
func listNS(prefix string) ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", netnsDir, err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// NSExists reports whether the named namespace exists.
func NSExists(name string) bool {
	if name == "" || strings.Contains(name, "/") {
		return false
	}
	_, err := os.Stat(filepath.Join(netnsDir, name))
	return err == nil
}

// Handle opens a netlink handle bound to the named namespace. The caller
// closes it; an open handle keeps the namespace alive.
func Handle(ns string) (*netlink.Handle, error) {
	fd, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", ns, err)
	}
	return h, nil
}
