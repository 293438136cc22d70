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
// reference for the HTTP + loopback floor, and its CPU per request with 32
// clients as the floor of the CPU per create. Each level prints the CPU
// per create of this process and (PostgreSQL) of the database backends
// serving the run, the heap allocated per create, the transactions
// retried and the slowest creates with their start in the level.
//
//	go run ./bench/api -db postgres -levels 1,8,32,32 -pgwait 20ms
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"neutrino/bench/machine"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
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
	levelsFlag := flag.String("levels", "1,8,32", "concurrent clients of each port-create level, in order (a level repeated runs again on the warm connection pool)")
	quotaPort := flag.Int("quota-port", -1, "the project's port quota (-1: unlimited, as the reference; a limit makes every create lock and count its project's ports)")
	pgWriters := flag.Int("pg-writers", -1, "PostgreSQL: write transactions of the server run at once (-1: the store's default, 0: no bound)")
	pgWait := flag.Duration("pgwait", 0, "PostgreSQL: sample the run's backends' states and wait events at this interval during each level (0: off)")
	slowest := flag.Int("slowest", 5, "list this many slowest creates of each level with their start time in the level")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	blockprofile := flag.String("blockprofile", "", "write a goroutine blocking profile of the whole run to this file")
	mutexprofile := flag.String("mutexprofile", "", "write a mutex contention profile of the whole run to this file")
	memprofile := flag.String("memprofile", "", "write a heap allocation profile of the whole run to this file")
	flag.Parse()
	var levels []int
	for _, f := range strings.Split(*levelsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fatalf("-levels %q: want a comma-separated list of client counts", *levelsFlag)
		}
		levels = append(levels, n)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatalf("%v", err)
		}
		pprof.StartCPUProfile(f)
		cleanups = append(cleanups, pprof.StopCPUProfile)
	}
	for _, prof := range []struct {
		file, name string
		on         func()
	}{
		{*blockprofile, "block", func() { runtime.SetBlockProfileRate(int(10 * time.Microsecond)) }},
		{*mutexprofile, "mutex", func() { runtime.SetMutexProfileFraction(5) }},
		{*memprofile, "allocs", func() { runtime.MemProfileRate = 4096 }},
	} {
		if prof.file == "" {
			continue
		}
		prof.on()
		cleanups = append(cleanups, func() {
			f, err := os.Create(prof.file)
			if err != nil {
				log.Print(err)
				return
			}
			defer f.Close()
			pprof.Lookup(prof.name).WriteTo(f, 0)
		})
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
	cfg, err := apitest.LoadConfig(dir, apitest.ReferenceINI+fmt.Sprintf("[quotas]\nquota_network = -1\nquota_subnet = -1\nquota_port = %d\n", *quotaPort))
	if err != nil {
		fatalf("%v", err)
	}
	st, err := apitest.NewStack(ctx, dir, dbURL, cfg, nil)
	if err != nil {
		fatalf("%v", err)
	}
	cleanups = append(cleanups, st.Close)
	if *pgWriters >= 0 {
		st.Store.SetPostgresWriters(*pgWriters)
	}
	// The run's own database, for the backends' CPU and wait events.
	m := meter{}
	if *db == "postgres" {
		// Its own connections are named, so that neither their CPU nor
		// their samples are counted.
		u, err := url.Parse(dbURL)
		if err != nil {
			fatalf("%v", err)
		}
		q := u.Query()
		q.Set("application_name", meterApp)
		u.RawQuery = q.Encode()
		mdb, err := sql.Open("pgx", u.String())
		if err != nil {
			fatalf("%v", err)
		}
		mdb.SetMaxOpenConns(2)
		cleanups = append(cleanups, func() { mdb.Close() })
		m.db = mdb
	}
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
	fmt.Printf("command: `go run ./bench/api %s`  \n", strings.Join(os.Args[1:], " "))
	fmt.Printf("machine: %s  \n", machine.Read())
	fmt.Printf("start: %s UTC, load average %s\n\n", time.Now().UTC().Format("2006-01-02 15:04:05"), machine.LoadAvg())

	// Reference in the same run: the no-op version document.
	var ref []time.Duration
	for i := 0; i < 300; i++ {
		_, d := call("GET", "/", "")
		ref = append(ref, d)
	}
	fmt.Printf("reference (GET / version document, 1 client, 300 requests): p50 %s, p99 %s\n\n", pct(ref, 50), pct(ref, 99))

	// CPU per request of the no-op with 32 clients: the HTTP server's and
	// the clients' floor, for the CPU per create below.
	{
		before := m.read(ctx)
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= 3200 {
					call("GET", "/", "")
				}
			}()
		}
		wg.Wait()
		c := since(before, m.read(ctx))
		fmt.Printf("reference CPU per request (GET /, 32 clients, 3200 requests): %s (this process | heap objects / bytes)\n\n", c.per(3200, false))
	}

	fmt.Println("CPU per create: this process (HTTP server, stack and clients) + the database's backends serving this run (PostgreSQL). " +
		"Slowest: latency@start offset in the level (* = the client's first request of the level).")
	fmt.Println()
	fmt.Println("| clients | ports | p50 | p99 | throughput | CPU per create | heap objects / bytes per create | retried | slowest |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	created := 0
	var seq atomic.Int64
	type sample struct {
		start, d time.Duration
		first    bool
	}
	create := func(n, workers int) ([]sample, time.Duration) {
		lat := make([]sample, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first := true
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					body := fmt.Sprintf(`{"port": {"network_id": "%s", "name": "bp-%d"}}`, netID, seq.Add(1))
					start := time.Since(t0)
					_, d := call("POST", "/v2.0/ports", body)
					lat[i] = sample{start, d, first}
					first = false
				}
			}()
		}
		wg.Wait()
		return lat, time.Since(t0)
	}
	for _, c := range levels {
		var sampler *waitSampler
		if *pgWait > 0 && m.db != nil {
			sampler = startSampler(m.db, *pgWait)
		}
		retries := st.Store.Retries()
		before := m.read(ctx)
		lat, wall := create(*perLevel, c)
		cst := since(before, m.read(ctx))
		created += *perLevel
		ds := make([]time.Duration, len(lat))
		for i, l := range lat {
			ds[i] = l.d
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i].d > lat[j].d })
		var slow []string
		for _, l := range lat[:min(*slowest, len(lat))] {
			mark := ""
			if l.first {
				mark = "*"
			}
			slow = append(slow, fmt.Sprintf("%s@%s%s", l.d.Round(time.Millisecond), l.start.Round(time.Millisecond), mark))
		}
		fmt.Printf("| %d | %d | %s | %s | %.0f ports/s | %s | %d | %s |\n", c, *perLevel, pct(ds, 50), pct(ds, 99),
			float64(*perLevel)/wall.Seconds(), cst.per(*perLevel, m.db != nil), st.Store.Retries()-retries, strings.Join(slow, " "))
		if sampler != nil {
			fmt.Printf("\n(%d clients: backends %s)\n\n", c, sampler.finish())
		}
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
