package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// openstack is the real openstack CLI (Debian python3-openstackclient) in
// noauth mode against one server. Its commands run in one Python process
// (testdata/osc.py) through the `openstack` script's own entry point, so
// each costs the command's work instead of the seconds that starting
// Python and importing the client take (the bulk of this package's test
// time when every command was a new process).
type openstack struct {
	t   *testing.T
	url string
	in  io.WriteCloser
	out *bufio.Reader
}

// openstackCLI starts the CLI process for the server at url; it ends
// with the test.
func openstackCLI(t *testing.T, url string) *openstack {
	t.Helper()
	bin, err := exec.LookPath("openstack")
	if err != nil {
		t.Fatal("the openstack CLI is not installed (Debian python3-openstackclient); run `make test`, which installs it")
	}
	python, err := interpreter(bin)
	if err != nil {
		t.Fatal(err)
	}
	driver, err := filepath.Abs(filepath.Join("testdata", "osc.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, driver, bin)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close() // the driver ends at the end of its input
		if err := cmd.Wait(); err != nil {
			t.Errorf("openstack CLI driver: %v\n%s", err, stderr.String())
		}
	})
	return &openstack{t: t, url: url, in: in, out: bufio.NewReader(out)}
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

// run runs `openstack ARGS` and returns what it printed (stdout and
// stderr) and, when it exited non-zero, an error naming the status.
func (o *openstack) run(args ...string) (string, error) {
	o.t.Helper()
	o.t.Logf("openstack %s", strings.Join(args, " "))
	req, _ := json.Marshal(append([]string{"--os-auth-type", "none", "--os-endpoint", o.url}, args...))
	if _, err := o.in.Write(append(req, '\n')); err != nil {
		o.t.Fatalf("openstack %s: %v", strings.Join(args, " "), err)
	}
	line, err := o.out.ReadBytes('\n')
	var res struct {
		RC  int
		Out string
	}
	if err != nil || json.Unmarshal(line, &res) != nil {
		o.t.Fatalf("openstack %s: the CLI driver answered %q: %v", strings.Join(args, " "), line, err)
	}
	if res.RC != 0 {
		return res.Out, fmt.Errorf("exit status %d", res.RC)
	}
	return res.Out, nil
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
