package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cost is what one level of the benchmark spent: CPU of this process
// (HTTP server, the whole stack and the HTTP clients), CPU of the
// database's backends serving this run's database (PostgreSQL only: the
// machine's cores are shared by both, so CPU per create is the budget),
// and the Go heap allocated.
type cost struct {
	proc     time.Duration
	backends time.Duration
	allocs   uint64 // heap objects
	bytes    uint64 // heap bytes
}

// meter reads the counters a cost is the difference of.
type meter struct {
	db *sql.DB // this run's PostgreSQL database (nil: no backend CPU)
}

// snapshot is one reading of the counters.
type snapshot struct {
	proc     time.Duration
	backends map[int]time.Duration // backend pid -> CPU so far
	allocs   uint64
	bytes    uint64
}

func (m meter) read(ctx context.Context) snapshot {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := snapshot{
		proc:   time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		allocs: ms.Mallocs, bytes: ms.TotalAlloc,
	}
	if m.db != nil {
		s.backends = backendCPU(ctx, m.db)
	}
	return s
}

// since is the cost from a to b. A backend that started in between counts
// from zero (its start-up is part of the cost); one that ended in
// between is lost (the pool keeps its connections for minutes).
func since(a, b snapshot) cost {
	c := cost{proc: b.proc - a.proc, allocs: b.allocs - a.allocs, bytes: b.bytes - a.bytes}
	for pid, t := range b.backends {
		c.backends += t - a.backends[pid]
	}
	return c
}

// per formats the cost of one of n operations.
func (c cost) per(n int, backends bool) string {
	s := fmt.Sprintf("%.2f ms", float64(c.proc)/float64(n)/1e6)
	if backends {
		s += fmt.Sprintf(" + %.2f ms", float64(c.backends)/float64(n)/1e6)
	}
	return s + fmt.Sprintf(" | %d / %.1f kB", c.allocs/uint64(n), float64(c.bytes)/float64(n)/1024)
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// meterApp is the application_name of the meter's own connections.
const meterApp = "neutrino-bench-meter"

// backendCPU reads the CPU time of every backend connected to db's
// database but the meter's own (so: the server's pool).
func backendCPU(ctx context.Context, db *sql.DB) map[int]time.Duration {
	rows, err := db.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name <> '"+meterApp+"'")
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// Fields after the ")" that ends the command: state is field 3,
		// utime and stime are fields 14 and 15.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = time.Duration(ut+st) * clockTick
	}
	return out
}

// waitSampler counts, every interval, what the run's backends are doing
// (state, and the wait event when waiting): lock waits on the revision
// row or on an allocation show as Lock:transactionid / Lock:tuple, a
// backend waiting for its client as Client:ClientRead.
type waitSampler struct {
	db     *sql.DB
	mu     sync.Mutex
	counts map[string]int
	n      int
	stop   chan struct{}
	done   chan struct{}
}

func startSampler(db *sql.DB, every time.Duration) *waitSampler {
	w := &waitSampler{db: db, counts: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			rows, err := db.Query("SELECT state, coalesce(wait_event_type || ':' || wait_event, '') FROM pg_stat_activity " +
				"WHERE datname = current_database() AND application_name <> '" + meterApp + "'")
			if err != nil {
				continue
			}
			w.mu.Lock()
			w.n++
			for rows.Next() {
				var state sql.NullString
				var ev string
				if rows.Scan(&state, &ev) == nil {
					k := state.String
					if ev != "" {
						k += " " + ev
					}
					w.counts[k]++
				}
			}
			w.mu.Unlock()
			rows.Close()
		}
	}()
	return w
}

// finish stops sampling and summarises: samples taken, and each backend
// state's share of the backend samples.
func (w *waitSampler) finish() string {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	total := 0
	keys := make([]string, 0, len(w.counts))
	for k, c := range w.counts {
		total += c
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return w.counts[keys[i]] > w.counts[keys[j]] })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, w.counts[k]))
	}
	return fmt.Sprintf("%d samples, %d backend states: %s", w.n, total, strings.Join(parts, ", "))
}
