package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runMark is the environment variable, set to the run directory, that
// every process the run starts inherits (servers, agents, database and
// OVS daemons, and whatever they start in turn), so the harness can find
// them all without knowing their names.
const runMark = "NEUTRINO_CHAOS_RUN"

// markedProc is a running process that carries the run's mark.
type markedProc struct {
	pid, ppid int
	cmd       string
}

func (p markedProc) String() string { return fmt.Sprintf("pid %d (%s)", p.pid, p.cmd) }

// markedProcs lists the live processes (not this one, not zombies) whose
// environment holds runMark=dir.
func markedProcs(dir string) []markedProc {
	want := []byte(runMark + "=" + dir)
	envs, _ := filepath.Glob("/proc/[0-9]*/environ")
	var out []markedProc
	for _, f := range envs {
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(f)
		if err != nil || !hasEnv(env, want) {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; it ends at the last ')'.
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		fs := strings.Fields(rest)
		if len(fs) < 2 || fs[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(fs[1])
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, markedProc{pid: pid, ppid: ppid, cmd: strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

// hasEnv reports whether the NUL-separated environment env holds the
// entry want exactly.
func hasEnv(env, want []byte) bool {
	for _, e := range bytes.Split(env, []byte{0}) {
		if bytes.Equal(e, want) {
			return true
		}
	}
	return false
}

// orphans are the run's processes that no longer descend from the
// harness: something a killed process started and left running (every
// process the harness starts is its child, and the daemons do not
// detach).
func orphans(ps []markedProc) []string {
	parent := map[int]int{}
	for _, p := range ps {
		parent[p.pid] = p.ppid
	}
	self := os.Getpid()
	var out []string
	for _, p := range ps {
		pid, ok := p.pid, false
		for range len(ps) + 1 {
			pp, known := parent[pid]
			if pp == self {
				ok = true
				break
			}
			if !known {
				break
			}
			pid = pp
		}
		if !ok {
			out = append(out, "orphaned process "+p.String())
		}
	}
	return out
}

// leftAfterTeardown lists what the run left once everything was stopped:
// processes with its mark (given up to wait to exit; then ended by PID,
// as they are the run's own) and namespaces with the lab's prefix.
func leftAfterTeardown(dir, labPrefix string, wait time.Duration) []string {
	var ps []markedProc
	for deadline := time.Now().Add(wait); ; time.Sleep(100 * time.Millisecond) {
		if ps = markedProcs(dir); len(ps) == 0 || time.Now().After(deadline) {
			break
		}
	}
	var out []string
	for _, p := range ps {
		out = append(out, "process left running: "+p.String())
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	if labPrefix != "" {
		ents, _ := os.ReadDir("/run/netns")
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), labPrefix+"-") {
				out = append(out, "namespace left: "+e.Name())
			}
		}
	}
	return out
}

// strayVMNamespaces lists the lab's VM namespaces ("<prefix>-vm-...")
// that belong to no VM the workload holds: a VM deleted, moved or never
// finished whose namespace stayed.
func strayVMNamespaces(labPrefix string, vms map[string]vm) []string {
	held := map[string]bool{}
	for _, v := range vms {
		held[v.ns] = true
	}
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), labPrefix+"-vm-") && !held[e.Name()] {
			out = append(out, "VM namespace of no VM: "+e.Name())
		}
	}
	return out
}
