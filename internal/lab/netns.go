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
)

// netnsDir is where named namespaces are bind-mounted (as `ip netns` does).
const netnsDir = "/run/netns"

// inNS runs fn on an OS thread switched into the named namespace. Processes
// started by fn inherit that namespace. If the thread cannot be switched
// back it stays locked, so the Go runtime discards it with the goroutine.
// An empty name runs fn where the caller is.
func inNS(name string, fn func() error) error {
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

// createNS creates a named namespace with its loopback up, leaving the
// calling thread where it was.
func createNS(name string) error {
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
	if err := inNS(name, func() error {
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

// deleteNS removes a named namespace; a missing one is not an error, so
// teardown is idempotent.
func deleteNS(name string) error {
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
