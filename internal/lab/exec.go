package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Exec runs argv inside the named namespace and returns its combined
// output. It is for tests, benchmarks and the demo (ping, arping, iperf3);
// the product code talks netlink and never execs network tools.
func Exec(ctx context.Context, ns string, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("exec: empty command")
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := InNS(ns, cmd.Start); err != nil {
		return nil, fmt.Errorf("exec %q in %s: %w", strings.Join(argv, " "), ns, err)
	}
	if err := cmd.Wait(); err != nil {
		return out.Bytes(), fmt.Errorf("exec %q in %s: %w: %s", strings.Join(argv, " "), ns, err, bytes.TrimSpace(out.Bytes()))
	}
	return out.Bytes(), nil
}

// Proc is a long-running process started in a namespace (tcpdump, iperf3
// server). Stop ends it by PID.
type Proc struct {
	Cmd  *exec.Cmd
	NS   string
	done chan struct{}
	err  error

	mu  sync.Mutex
	out bytes.Buffer
}

// Start starts argv inside the named namespace without waiting for it.
func Start(ns string, argv ...string) (*Proc, error) { return startEnv(ns, nil, argv...) }

// startEnv is Start with env added to this process's environment.
func startEnv(ns string, env []string, argv ...string) (*Proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("start: empty command")
	}
	p := &Proc{NS: ns, done: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = (*procWriter)(p), (*procWriter)(p)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.Cmd = cmd
	if err := InNS(ns, cmd.Start); err != nil {
		return nil, fmt.Errorf("start %q in %s: %w", strings.Join(argv, " "), ns, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

type procWriter Proc

func (w *procWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(b)
}

// Output returns what the process wrote so far (stdout and stderr).
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// PID returns the process id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit by itself (or ctx to end).
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop sends SIGTERM (tcpdump then flushes its output), waits up to 3s,
// then SIGKILLs. It is safe to call more than once.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(3 * time.Second):
	}
	if err := p.Cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill pid %d: %w", p.PID(), err)
	}
	<-p.done
	return nil
}

// StopRecorded stops a process recorded in the state file (started by an
// earlier `neutrino demo --keep`): only if /proc/PID/cmdline still shows
// the recorded command, SIGTERM, up to 5s, then SIGKILL. A process that is
// already gone is not an error.
func StopRecorded(ctx context.Context, r ProcRecord) error {
	if r.PID <= 1 {
		return fmt.Errorf("stop: refusing pid %d", r.PID)
	}
	same := func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.PID))
		if err != nil {
			return false
		}
		return strings.Join(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), " ") == r.Cmd
	}
	if !same() {
		return nil
	}
	if err := syscall.Kill(r.PID, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("stop pid %d: %w", r.PID, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for same() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if same() {
		if err := syscall.Kill(r.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill pid %d: %w", r.PID, err)
		}
	}
	return nil
}
