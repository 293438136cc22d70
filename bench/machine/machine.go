// Package machine describes the machine a benchmark runs on: every result
// in docs/BENCHMARKS.md names its CPU, cores, memory, kernel and the load
// average, since these machines are shared and noisy.
package machine

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Info is what a benchmark header says about the machine.
type Info struct {
	CPU       string
	Cores     int
	MemGiB    float64
	Kernel    string
	Host      string
	GoVersion string
}

// Read reads Info from /proc; fields it cannot read stay empty.
func Read() Info {
	i := Info{CPU: "unknown CPU", Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		i.CPU = v
	}
	if kb, err := strconv.ParseFloat(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 64); err == nil {
		i.MemGiB = kb / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		i.Kernel = strings.TrimSpace(string(b))
	}
	i.Host, _ = os.Hostname()
	return i
}

// String is the one-line description benchmarks print.
func (i Info) String() string {
	return fmt.Sprintf("%s, %d CPUs, %.1f GiB RAM, kernel %s, %s/%s, %s",
		i.CPU, i.Cores, i.MemGiB, i.Kernel, runtime.GOOS, runtime.GOARCH, i.GoVersion)
}

// LoadAvg is the 1, 5 and 15 minute load average ("unknown" if unreadable).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// RSS is this process's resident set size ("VmRSS" of /proc/self/status,
// e.g. "812345 kB"; "unknown" if unreadable).
func RSS() string {
	if v := procField("/proc/self/status", "VmRSS"); v != "" {
		return v
	}
	return "unknown"
}

// procField returns the value of the first "key : value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
