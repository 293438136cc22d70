package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// childEnv marks a run of this test binary as the neutrino command itself
// (see TestMain): tests start real server processes from it.
const childEnv = "NEUTRINO_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startChild runs this binary as the neutrino command with args, stopped
// (SIGTERM, then SIGKILL) by its PID when the test ends, its output logged
// if the test failed. exited receives the process's end.
func startChild(t *testing.T, args ...string) (logBuf *bytes.Buffer, exited <-chan error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logBuf = &bytes.Buffer{}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout, cmd.Stderr = logBuf, logBuf
	// Also when the test binary is killed (timeout), the child goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("neutrino %s (pid %d) log:\n%s", args[0], cmd.Process.Pid, logBuf.String())
		}
	})
	return logBuf, done
}

// startServerProcess runs `neutrino server --config-file conf` as a child
// process (startChild) and returns its API base URL once it answers.
func startServerProcess(t *testing.T, conf string, apiPort int) string {
	t.Helper()
	logBuf, exited := startChild(t, "server", "--config-file", conf)
	base := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("server exited: %v\n%s", err, logBuf.String())
		default:
		}
		if resp, err := http.Get(base + "/v2.0/networks"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("server did not answer within 60s\n%s", logBuf.String())
	return ""
}

// call sends one JSON request and returns the status and the decoded body.
func call(ctx context.Context, method, url string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: %d with a body that is not JSON: %w", method, url, resp.StatusCode, err)
	}
	return resp.StatusCode, out, nil
}

// TestTwoServerProcessesOneWinner runs two `neutrino server` processes on
// one PostgreSQL and one MariaDB database and sends racing creates to both
// over HTTP: the same /24, the same fixed IP, the same MAC, the same
// provider VNI, and more networks than the VNI pool holds. Each contested
// thing has exactly one winner; every loser gets Neutron's fault (status
// and NeutronError type), never a 500.
func TestTwoServerProcessesOneWinner(t *testing.T) {
	const racers = 24
	const pool = 8
	for _, d := range []store.Dialect{store.Postgres, store.MySQL} {
		t.Run(string(d), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			u := storetest.URL(t, d)
			st := storetest.OpenURL(t, u)
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			var bases []string
			for i := 0; i < 2; i++ {
				dir := t.TempDir()
				apiPort := freePort(t)
				conf := filepath.Join(dir, "neutron.conf")
				text := fmt.Sprintf("[DEFAULT]\nbind_port = %d\nrpc_bind_port = %d\nstate_path = %s\n"+
					"[database]\nconnection = %s\n[ml2]\ntype_drivers = vxlan\ntenant_network_types = vxlan\nmechanism_drivers = openvswitch\n"+
					"[ml2_type_vxlan]\nvni_ranges = 1001:%d\n", apiPort, freePort(t), dir, u, 1000+pool)
				if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				bases = append(bases, startServerProcess(t, conf, apiPort))
			}

			// race sends racers requests, alternating between the servers,
			// and counts "status type" outcomes; bodies of successes go to ok.
			race := func(what, method, path string, body func(i int) any, ok func(map[string]any)) map[string]int {
				var mu sync.Mutex
				got := map[string]int{}
				var wg sync.WaitGroup
				for i := 0; i < racers; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						status, out, err := call(ctx, method, bases[i%2]+path, body(i))
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							t.Errorf("%s: %v", what, err)
							return
						}
						if status < 300 {
							got["ok"]++
							if ok != nil {
								ok(out)
							}
							return
						}
						fault, _ := out["NeutronError"].(map[string]any)
						typ, _ := fault["type"].(string)
						if typ == "" || status == 500 {
							t.Errorf("%s: %d %v (want a NeutronError, never 500)", what, status, out)
						}
						got[fmt.Sprintf("%d %s", status, typ)]++
					}()
				}
				wg.Wait()
				return got
			}
			one := func(what string, got map[string]int, loser string) {
				t.Helper()
				if got["ok"] != 1 || got[loser] != racers-1 {
					t.Errorf("%s: %v; want 1 ok and %d %q", what, got, racers-1, loser)
				}
			}
			mustCreate := func(path string, body any, key string) map[string]any {
				t.Helper()
				status, out, err := call(ctx, "POST", bases[0]+path, body)
				if err != nil || status != 201 {
					t.Fatalf("POST %s: %d %v %v", path, status, out, err)
				}
				return out[key].(map[string]any)
			}

			net := mustCreate("/v2.0/networks", map[string]any{"network": map[string]any{"name": "contested"}}, "network")
			one("same /24", race("subnet", "POST", "/v2.0/subnets", func(int) any {
				return map[string]any{"subnet": map[string]any{"network_id": net["id"], "ip_version": 4, "cidr": "10.7.0.0/24"}}
			}, nil), "400 InvalidInput")
			status, out, err := call(ctx, "GET", bases[1]+"/v2.0/subnets?network_id="+net["id"].(string), nil)
			if err != nil || status != 200 || len(out["subnets"].([]any)) != 1 {
				t.Fatalf("subnets of the contested network: %d %v %v", status, out, err)
			}
			sub := out["subnets"].([]any)[0].(map[string]any)

			one("same fixed ip", race("port", "POST", "/v2.0/ports", func(int) any {
				return map[string]any{"port": map[string]any{"network_id": net["id"],
					"fixed_ips": []any{map[string]any{"subnet_id": sub["id"], "ip_address": "10.7.0.77"}}}}
			}, nil), "409 IpAddressAlreadyAllocated")
			one("same mac", race("port", "POST", "/v2.0/ports", func(int) any {
				return map[string]any{"port": map[string]any{"network_id": net["id"], "mac_address": "fa:16:3e:00:77:77"}}
			}, nil), "409 MacAddressInUse")
			one("same provider vni", race("network", "POST", "/v2.0/networks", func(int) any {
				return map[string]any{"network": map[string]any{"provider:network_type": "vxlan", "provider:segmentation_id": 1003}}
			}, nil), "409 TunnelIdInUse")

			// pool-2 VNIs are left (the first network and 1003 hold two).
			vnis := map[float64]int{}
			got := race("pool network", "POST", "/v2.0/networks", func(int) any {
				return map[string]any{"network": map[string]any{}}
			}, func(out map[string]any) {
				n := out["network"].(map[string]any)
				vnis[n["provider:segmentation_id"].(float64)]++
			})
			if got["ok"] != pool-2 || got["503 NoNetworkAvailable"] != racers-pool+2 {
				t.Errorf("pool allocation: %v; want %d ok, the rest 503 NoNetworkAvailable", got, pool-2)
			}
			for v, k := range vnis {
				if k != 1 || v == 1003 || v < 1001 || v > 1000+pool {
					t.Errorf("VNI %v given to %d networks", v, k)
				}
			}
			var ports int
			if err := st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM ports").Scan(&ports); err != nil || ports != 2 {
				t.Errorf("%d ports stored (%v), want 2", ports, err)
			}
		})
	}
}
