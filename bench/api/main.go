// Command api benchmarks neutrino's Neutron API over HTTP on loopback:
// port create latency (p50/p99) and throughput with 1, 8 and 32
// concurrent clients, and listing 10,000 ports, on SQLite, PostgreSQL or
// MariaDB. The server is the real stack (config.LoadServer, store, ML2
// plugin, api.Server) behind a net/http server on 127.0.0.1; the clients
// are plain HTTP clients with keep-alive, as openstacksdk uses.
//
//	go run ./bench/api -db sqlite
//	NEUTRINO_TEST_POSTGRES=postgresql://... go run ./bench/api -db postgres
//
// A no-op request (GET / version document) is timed in the same run as a
// reference for the HTTP + loopback floor.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"neutrino/bench/machine"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"neutrino/internal/api/apitest"
)

// cleanups run on exit, also after a fatal error (a fresh database on the
// shared server must be dropped).
var cleanups []func()

func fatalf(format string, args ...any) {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	log.Fatalf(format, args...)
}

func main() {
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	db := flag.String("db", "sqlite", "sqlite, postgres or mysql (postgres/mysql: a fresh database on NEUTRINO_TEST_POSTGRES / NEUTRINO_TEST_MYSQL)")
	perLevel := flag.Int("ports", 400, "ports created per concurrency level")
	listN := flag.Int("list", 10000, "ports present when timing the listing")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatalf("%v", err)
		}
		pprof.StartCPUProfile(f)
		cleanups = append(cleanups, pprof.StopCPUProfile)
	}
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "neutrino-bench-api-")
	if err != nil {
		fatalf("%v", err)
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) })
	dbURL := ""
	switch *db {
	case "sqlite":
	case "postgres", "mysql":
		env := map[string]string{"postgres": "NEUTRINO_TEST_POSTGRES", "mysql": "NEUTRINO_TEST_MYSQL"}[*db]
		admin := os.Getenv(env)
		if admin == "" {
			fatalf("%s is not set (source /work/brief/testdb.env or run under `make test`)", env)
		}
		u, drop, err := apitest.FreshDatabase(ctx, admin)
		if err != nil {
			fatalf("%v", err)
		}
		cleanups = append(cleanups, drop)
		dbURL = u
	default:
		fatalf("-db %q: want sqlite, postgres or mysql", *db)
	}
	// Neutron's default quotas (500 ports per project) would stop the
	// listing fixture: lifted, as for the reference Neutron.
	cfg, err := apitest.LoadConfig(dir, apitest.ReferenceINI+"[quotas]\nquota_network = -1\nquota_subnet = -1\nquota_port = -1\n")
	if err != nil {
		fatalf("%v", err)
	}
	st, err := apitest.NewStack(ctx, dir, dbURL, cfg, nil)
	if err != nil {
		fatalf("%v", err)
	}
	cleanups = append(cleanups, st.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("%v", err)
	}
	srv := &http.Server{Handler: st.Handler}
	go srv.Serve(ln)
	cleanups = append(cleanups, func() { srv.Close() })
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}

	call := func(method, path, body string) ([]byte, time.Duration) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			fatalf("%v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if resp.StatusCode >= 300 {
			fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return b, d
	}
	idOf := func(b []byte, key string) string {
		var m map[string]map[string]any
		json.Unmarshal(b, &m)
		return m[key]["id"].(string)
	}
	b, _ := call("POST", "/v2.0/networks", `{"network": {"name": "bench"}}`)
	netID := idOf(b, "network")
	call("POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+netID+`", "cidr": "10.100.0.0/16", "ip_version": 4}}`)

	fmt.Printf("## API benchmark: %s\n\n", *db)
	fmt.Printf("command: `go run ./bench/api -db %s -ports %d -list %d`  \n", *db, *perLevel, *listN)
	fmt.Printf("machine: %s  \n", machine.Read())
	fmt.Printf("start: %s UTC, load average %s\n\n", time.Now().UTC().Format("2006-01-02 15:04:05"), machine.LoadAvg())

	// Reference in the same run: the no-op version document.
	var ref []time.Duration
	for i := 0; i < 300; i++ {
		_, d := call("GET", "/", "")
		ref = append(ref, d)
	}
	fmt.Printf("reference (GET / version document, 1 client, 300 requests): p50 %s, p99 %s\n\n", pct(ref, 50), pct(ref, 99))

	fmt.Println("| clients | ports | p50 | p99 | throughput |")
	fmt.Println("|---|---|---|---|---|")
	created := 0
	var seq atomic.Int64
	create := func(n, workers int) ([]time.Duration, time.Duration) {
		lat := make([]time.Duration, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					body := fmt.Sprintf(`{"port": {"network_id": "%s", "name": "bp-%d"}}`, netID, seq.Add(1))
					_, d := call("POST", "/v2.0/ports", body)
					lat[i] = d
				}
			}()
		}
		wg.Wait()
		return lat, time.Since(t0)
	}
	for _, c := range []int{1, 8, 32} {
		lat, wall := create(*perLevel, c)
		created += *perLevel
		fmt.Printf("| %d | %d | %s | %s | %.0f ports/s |\n", c, *perLevel, pct(lat, 50), pct(lat, 99), float64(*perLevel)/wall.Seconds())
	}
	if rest := *listN - created; rest > 0 {
		_, wall := create(rest, 32)
		fmt.Printf("\n(filled up to %d ports with 32 clients: %d more in %s, %.0f ports/s)\n", *listN, rest, wall.Round(time.Millisecond), float64(rest)/wall.Seconds())
	}
	fmt.Println()
	var lists []time.Duration
	size := 0
	for i := 0; i < 5; i++ {
		b, d := call("GET", "/v2.0/ports", "")
		lists = append(lists, d)
		size = len(b)
		if i == 0 {
			var m map[string][]json.RawMessage
			json.Unmarshal(b, &m)
			if len(m["ports"]) < *listN {
				fatalf("listing returned %d ports, want >= %d", len(m["ports"]), *listN)
			}
		}
	}
	sort.Slice(lists, func(i, j int) bool { return lists[i] < lists[j] })
	fmt.Printf("list all %d ports (GET /v2.0/ports, %.1f MB): min %s, median %s, max %s (5 runs)\n",
		max(*listN, created), float64(size)/1e6, lists[0].Round(time.Millisecond), lists[2].Round(time.Millisecond), lists[4].Round(time.Millisecond))
	var byNet []time.Duration
	for i := 0; i < 3; i++ {
		_, d := call("GET", "/v2.0/ports?network_id="+netID, "")
		byNet = append(byNet, d)
	}
	sort.Slice(byNet, func(i, j int) bool { return byNet[i] < byNet[j] })
	fmt.Printf("list by network_id: median %s (3 runs)\n", byNet[1].Round(time.Millisecond))
	// Retries are write transactions run again after a lost race (IP,
	// MAC, revision lock timeouts): wasted work that throughput hides.
	fmt.Printf("\nwrite transactions retried: %d; end: %s UTC, load average %s\n",
		st.Store.Retries(), time.Now().UTC().Format("15:04:05"), machine.LoadAvg())
	_ = bytes.MinRead
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i].Round(10 * time.Microsecond)
}
