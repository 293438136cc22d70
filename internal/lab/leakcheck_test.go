package lab

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestLeakcheckScript: scripts/leakcheck.sh fails a run that left a
// process, a namespace or a root-namespace link behind and names each,
// ignores what other runs (or anyone else) have running, and passes once
// the leftovers are gone.
func TestLeakcheckScript(t *testing.T) {
	needRoot(t)
	script, err := filepath.Abs("../../scripts/leakcheck.sh")
	if err != nil {
		t.Fatal(err)
	}
	run := t.TempDir() // a scratch run, not the one `make test` checks
	leakcheck := func(mode string) (string, int) {
		t.Helper()
		out, err := exec.Command("bash", script, mode, run).CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		}
		t.Fatalf("leakcheck %s: %v: %s", mode, err, out)
		return "", 0
	}
	if out, code := leakcheck("begin"); code != 0 {
		t.Fatalf("begin: exit %d: %s", code, out)
	}
	if out, code := leakcheck("check"); code != 0 {
		t.Fatalf("clean run: exit %d: %s", code, out)
	}

	// What this scratch run leaves: a process and a namespace made the way
	// tests make them (inheriting the run's mark), and a link "new" since
	// begin (lo, dropped from the snapshot: no link is made in the root
	// namespace for this).
	t.Setenv(RunEnv, run)
	ns := "nt-" + RandomID() + "-leak"
	if err := CreateNS(ns); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = DeleteNS(ns) }()
	mine, err := Start("", "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mine.Stop() }()
	// Another run's process (and this machine's other processes) are not
	// this run's business.
	other := exec.Command("sleep", "601")
	other.Env = append(os.Environ(), RunEnv+"="+t.TempDir())
	other.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	before := filepath.Join(run, "links.before")
	snap, err := os.ReadFile(before)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(before, []byte(strings.Replace("\n"+string(snap), "\nlo\n", "\n", 1)[1:]), 0o644); err != nil {
		t.Fatal(err)
	}

	out, code := leakcheck("check")
	if code != 1 {
		t.Errorf("leaky run: exit %d, want 1: %s", code, out)
	}
	for _, want := range []string{
		"network namespaces left: " + ns,
		"links left in the root namespace: lo",
		strconv.Itoa(mine.PID()) + " (sleep 600 )",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("leak report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "sleep 601") || strings.Contains(out, "bash") {
		t.Errorf("leak report names processes not of this run:\n%s", out)
	}

	if err := mine.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := DeleteNS(ns); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(before, snap, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := leakcheck("check"); code != 0 {
		t.Errorf("after cleanup: exit %d: %s", code, out)
	}
}

// TestLeakcheckNftables: a table that was not there at `begin` fails the
// check, named with its family. The script runs inside a scratch namespace
// (`ip netns exec`), so the table is made there, never in the root
// namespace where it would be another run's leak.
func TestLeakcheckNftables(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("nft is not installed (scripts/deps.sh installs nftables)")
	}
	script, err := filepath.Abs("../../scripts/leakcheck.sh")
	if err != nil {
		t.Fatal(err)
	}
	ns := "nt-" + RandomID() + "-nft"
	if err := CreateNS(ns); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = DeleteNS(ns) }()
	run := t.TempDir()
	leakcheck := func(mode string) (string, int) {
		t.Helper()
		out, err := exec.Command("ip", "netns", "exec", ns, "bash", script, mode, run).CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		}
		t.Fatalf("leakcheck %s: %v: %s", mode, err, out)
		return "", 0
	}
	nft := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	nft("add", "table", "inet", "was-there")
	if out, code := leakcheck("begin"); code != 0 {
		t.Fatalf("begin: exit %d: %s", code, out)
	}
	nft("add", "table", "bridge", "neutrino-left")
	out, code := leakcheck("check")
	if code != 1 || !strings.Contains(out, "nftables tables left in the root namespace: bridge neutrino-left") {
		t.Errorf("table left: exit %d, want 1 naming bridge neutrino-left: %s", code, out)
	}
	if strings.Contains(out, "was-there") {
		t.Errorf("the report names a table that was there at begin: %s", out)
	}
	nft("delete", "table", "bridge", "neutrino-left")
	if out, code := leakcheck("check"); code != 0 {
		t.Errorf("after the table went: exit %d: %s", code, out)
	}
}

// TestLeakcheckReap: `leakcheck.sh reap` ends the processes and deletes the
// namespaces of a run whose scripts/test.sh is gone, and leaves a live
// run's alone.
func TestLeakcheckReap(t *testing.T) {
	needRoot(t)
	script, err := filepath.Abs("../../scripts/leakcheck.sh")
	if err != nil {
		t.Fatal(err)
	}
	// A dead run: its owner is a process that has exited.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	mkrun := func(owner int) string {
		d, err := os.MkdirTemp("/tmp", "neutrino-run.")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		if err := os.WriteFile(filepath.Join(d, "owner"), []byte(strconv.Itoa(owner)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	dead := mkrun(gone.ProcessState.Pid())
	// A live run: its owner runs scripts/test.sh.
	// A stand-in: bash named scripts/test.sh, blocked in its own read (no
	// child to orphan) until the test ends.
	owner := exec.Command("bash", "-c", "read -r _", "scripts/test.sh")
	owner.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := owner.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = owner.Wait() }()
	live := mkrun(owner.Process.Pid)

	leave := func(run, name string) (*Proc, string) {
		t.Setenv(RunEnv, run)
		ns := "nt-" + RandomID() + "-" + name
		if err := CreateNS(ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = DeleteNS(ns) })
		p, err := Start("", "sleep", "600")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop() })
		return p, ns
	}
	deadProc, deadNS := leave(dead, "dead")
	liveProc, liveNS := leave(live, "live")
	os.Unsetenv(RunEnv) // t.Setenv restores it at the end

	if out, err := exec.Command("bash", script, "reap").CombinedOutput(); err != nil {
		t.Fatalf("reap: %v: %s", err, out)
	}
	select {
	case <-deadProc.Done():
	default:
		// Stop reaps our child; reap sent SIGTERM, so it is gone or going.
		if err := syscall.Kill(deadProc.PID(), 0); err == nil && !zombie(deadProc.PID()) {
			t.Errorf("the dead run's process %d still runs", deadProc.PID())
		}
	}
	if NSExists(deadNS) {
		t.Errorf("the dead run's namespace %s is still there", deadNS)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead run's directory is still there (%v)", err)
	}
	select {
	case <-liveProc.Done():
		t.Error("reap ended a live run's process")
	default:
	}
	if !NSExists(liveNS) {
		t.Error("reap deleted a live run's namespace")
	}
}

// zombie reports whether pid has exited and waits for its parent.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}
