package lab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// raceChildEnv makes the test binary run TestNetnsDirRace's body: the
// parent re-executes itself with it in a private mount namespace.
const raceChildEnv = "NEUTRINO_NETNS_RACE_CHILD"

// TestNetnsDirRace reproduces a just-booted machine, where /run/netns has
// never been mounted, with our namespaces and `ip netns add` made at the
// same time: every namespace must stay visible and be deletable, and no
// namespace mount may be left hidden under another mount.
//
// It runs in a re-executed child in a private mount namespace with a fresh
// tmpfs on /run, so it never unmounts or hides anything from the tests
// running alongside on this machine.
func TestNetnsDirRace(t *testing.T) {
	needRoot(t)
	if os.Getenv(raceChildEnv) != "" {
		netnsRaceChild(t, os.Getenv(raceChildEnv))
		return
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip (iproute2) is needed: run `make test`, which installs it")
	}
	hostMnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNetnsDirRace$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), raceChildEnv+"="+hostMnt)
	// Go's runtime marks / recursively private after unsharing the mount
	// namespace, so nothing the child mounts propagates back here.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child in a private mount namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestNetnsDirRace") {
		t.Fatalf("child did not run the test:\n%s", out)
	}
}

func netnsRaceChild(t *testing.T, hostMnt string) {
	// Refuse to touch mounts unless this really is another mount namespace.
	if mnt, err := os.Readlink("/proc/self/ns/mnt"); err != nil || mnt == hostMnt {
		t.Fatalf("child shares the mount namespace %s (%v): refusing to mount", hostMnt, err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make / private: %v", err)
	}
	// /run as after boot: an empty tmpfs, no /run/netns. The copies of the
	// host's mounts under /run go first (deepest first; private, so the
	// host keeps its own), so that the mount table here shows only what
	// this test makes.
	under := mountPoints(t)
	for i := len(under) - 1; i >= 0; i-- {
		if m := under[i]; m == "/run" || strings.HasPrefix(m, "/run/") {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				t.Fatalf("unmount copy of %s: %v", m, err)
			}
		}
	}
	if left := nsMounts(t); len(left) > 0 || isMountPoint(t, netnsDir) {
		t.Fatalf("mounts left under /run after unmounting the copies: %v", left)
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=755"); err != nil {
		t.Fatalf("tmpfs on /run: %v", err)
	}
	p := "nt-" + RandomID() + "-race"
	// Round 1: ours first (the case that failed: our namespaces, then a
	// tool's `ip netns add` hiding them), then ours and ip's together.
	t.Run("ours-first", func(t *testing.T) {
		raceRound(t, p+"1", true)
	})
	// Round 2: from an unmounted /run/netns again, both start at once.
	t.Run("together", func(t *testing.T) {
		for i := 0; isMountPoint(t, netnsDir); i++ {
			if i == 10 {
				t.Fatalf("%s stays a mount point", netnsDir)
			}
			if err := unix.Unmount(netnsDir, 0); err != nil {
				t.Fatalf("unmount %s: %v", netnsDir, err)
			}
		}
		raceRound(t, p+"2", false)
	})
}

// raceRound creates 8 namespaces with CreateNS and 4 with `ip netns add`
// concurrently (with oursFirst, one of ours before all of them), checks
// that each is a namespace mount that holds the namespace made, deletes
// them with DeleteNS and `ip netns del`, and checks that no namespace
// mount is left anywhere under /run/netns.
func raceRound(t *testing.T, prefix string, oursFirst bool) {
	if isMountPoint(t, netnsDir) {
		t.Fatalf("%s is a mount point before the round", netnsDir)
	}
	var ours, theirs []string
	for i := 0; i < 8; i++ {
		ours = append(ours, fmt.Sprintf("%s-o%d", prefix, i))
	}
	for i := 0; i < 4; i++ {
		theirs = append(theirs, fmt.Sprintf("%s-ip%d", prefix, i))
	}
	var mu sync.Mutex
	ids := map[string]string{} // name -> namespace identity right after creation
	var errs []error
	fail := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	createOurs := func(name string) {
		if err := CreateNS(name); err != nil {
			fail(err)
			return
		}
		h, err := netns.GetFromName(name)
		if err != nil {
			fail(fmt.Errorf("open %s right after creating it: %w", name, err))
			return
		}
		defer h.Close()
		mu.Lock()
		ids[name] = h.UniqueId()
		mu.Unlock()
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	rest := ours
	if oursFirst {
		createOurs(ours[0])
		rest = ours[1:]
	}
	for _, name := range rest {
		wg.Add(1)
		go func() { defer wg.Done(); <-start; createOurs(name) }()
	}
	for _, name := range theirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
				fail(fmt.Errorf("ip netns add %s: %w: %s", name, err, out))
			}
		}()
	}
	close(start)
	wg.Wait()
	defer func() {
		// Whatever failed, leave nothing: a mount-namespace-private
		// leftover would die with this process anyway, but say so.
		for _, n := range append(append([]string{}, ours...), theirs...) {
			_ = DeleteNS(n)
		}
	}()
	if len(errs) > 0 {
		t.Fatalf("creating: %v", errors.Join(errs...))
	}

	for _, name := range append(append([]string{}, ours...), theirs...) {
		h, err := netns.GetFromName(name)
		if err != nil {
			t.Errorf("%s vanished: %v", name, err)
			continue
		}
		var st unix.Statfs_t
		if err := unix.Fstatfs(int(h), &st); err != nil || st.Type != unix.NSFS_MAGIC {
			t.Errorf("%s is no namespace mount (statfs type %#x, %v)", name, st.Type, err)
		}
		if want, ok := ids[name]; ok && h.UniqueId() != want {
			t.Errorf("%s is namespace %s, created as %s", name, h.UniqueId(), want)
		}
		h.Close()
	}
	for _, name := range ours {
		if err := DeleteNS(name); err != nil {
			t.Errorf("DeleteNS: %v", err)
		}
		if _, err := os.Lstat(netnsDir + "/" + name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after DeleteNS (%v)", name, err)
		}
	}
	for _, name := range theirs {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	}
	if left := nsMounts(t); len(left) > 0 {
		t.Errorf("namespace mounts left (hidden) under %s: %v", netnsDir, left)
	}
}

// mountPoints returns the mount points in /proc/self/mountinfo, in its order.
func mountPoints(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 {
			out = append(out, fields[4])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func isMountPoint(t *testing.T, path string) bool {
	for _, m := range mountPoints(t) {
		if m == path {
			return true
		}
	}
	return false
}

// nsMounts lists mounts below /run/netns: namespace files still mounted,
// including ones hidden under a later mount of /run/netns.
func nsMounts(t *testing.T) []string {
	var out []string
	for _, m := range mountPoints(t) {
		if strings.HasPrefix(m, netnsDir+"/") {
			out = append(out, m)
		}
	}
	return out
}
