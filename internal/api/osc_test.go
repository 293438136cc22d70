package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestMain ends the openstack CLI driver after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := cli.stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// cli runs the package's openstack CLI commands (Debian
// python3-openstackclient) in one Python process, testdata/osc.py,
// through the `openstack` script's own entry point: a command costs its
// own work, not the seconds of starting Python and importing the client
// (most of this package's test time when every command was a process of
// its own). The first test that needs it starts it; TestMain ends it.
var cli cliDriver

type cliDriver struct {
	once   sync.Once
	err    error // from starting it
	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer
}

func (d *cliDriver) start() error {
	d.once.Do(func() {
		bin, err := exec.LookPath("openstack")
		if err != nil {
			d.err = errors.New("the openstack CLI is not installed (Debian python3-openstackclient); run `make test`, which installs it")
			return
		}
		python, err := interpreter(bin)
		if err != nil {
			d.err = err
			return
		}
		driver, err := filepath.Abs(filepath.Join("testdata", "osc.py"))
		if err != nil {
			d.err = err
			return
		}
		d.cmd = exec.Command(python, driver, bin)
		d.cmd.Stderr = &d.stderr
		if d.in, err = d.cmd.StdinPipe(); err == nil {
			var out io.Reader
			if out, err = d.cmd.StdoutPipe(); err == nil {
				d.out = bufio.NewReader(out)
				err = d.cmd.Start()
			}
		}
		if err != nil {
			d.err, d.cmd = fmt.Errorf("start the openstack CLI driver: %w", err), nil
		}
	})
	return d.err
}

// interpreter is the Python that the openstack script names on its #!
// line: the one the client is installed for.
func interpreter(script string) (string, error) {
	f, err := os.Open(script)
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if !strings.HasPrefix(line, "#!") || len(fields) == 0 || !strings.Contains(filepath.Base(fields[0]), "python") {
		return "", fmt.Errorf("%s is not a Python script (first line %q)", script, line)
	}
	return fields[0], nil
}

// do runs one command (the arguments of `openstack`); commands run one
// at a time.
func (d *cliDriver) do(args []string) (rc int, out string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	req, _ := json.Marshal(args)
	if _, err := d.in.Write(append(req, '\n')); err != nil {
		return 0, "", fmt.Errorf("the CLI driver: %w (its stderr is printed at the end of the run)", err)
	}
	line, err := d.out.ReadBytes('\n')
	var res struct {
		RC  int
		Out string
	}
	if err != nil || json.Unmarshal(line, &res) != nil {
		return 0, "", fmt.Errorf("the CLI driver answered %q: %v (its stderr is printed at the end of the run)", line, err)
	}
	return res.RC, res.Out, nil
}

// stop ends the driver, if it was started, at the end of its input.
func (d *cliDriver) stop() error {
	if d.cmd == nil {
		return nil
	}
	d.in.Close()
	if err := d.cmd.Wait(); err != nil {
		return fmt.Errorf("openstack CLI driver: %v\n%s", err, d.stderr.String())
	}
	return nil
}

// openstack is the openstack CLI in noauth mode against one server, for
// one test.
type openstack struct {
	t   *testing.T
	url string
}

func openstackCLI(t *testing.T, url string) *openstack {
	t.Helper()
	if err := cli.start(); err != nil {
		t.Fatal(err)
	}
	return &openstack{t: t, url: url}
}

// run runs `openstack ARGS` and returns what it printed (stdout and
// stderr) and, when it exited non-zero, an error naming the status.
func (o *openstack) run(args ...string) (string, error) {
	o.t.Helper()
	o.t.Logf("openstack %s", strings.Join(args, " "))
	rc, out, err := cli.do(append([]string{"--os-auth-type", "none", "--os-endpoint", o.url}, args...))
	if err != nil {
		o.t.Fatalf("openstack %s: %v", strings.Join(args, " "), err)
	}
	if rc != 0 {
		return out, fmt.Errorf("exit status %d", rc)
	}
	return out, nil
}

// must runs `openstack ARGS` and fails the test unless it succeeds.
func (o *openstack) must(args ...string) string {
	o.t.Helper()
	out, err := o.run(args...)
	if err != nil {
		o.t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// json runs `openstack ARGS -f json` and decodes its output into v.
func (o *openstack) json(v any, args ...string) {
	o.t.Helper()
	out := o.must(append(args, "-f", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		o.t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
