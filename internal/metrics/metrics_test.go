package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type fakeSource struct{}

func (fakeSource) Revision() int64               { return 42 }
func (fakeSource) WatcherLags() map[string]int64 { return map[string]int64{"compute-1": 3} }
func (fakeSource) Retries() int64                { return 7 }
func (fakeSource) AgentCounts(context.Context) (map[string]int, map[string]int, error) {
	return map[string]int{"Open vSwitch agent": 2}, map[string]int{"Open vSwitch agent": 1}, nil
}

// Observe counts by resource, verb and status; the collector reads
// the source at scrape time.
func TestServerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewServer(reg, fakeSource{})
	m.Observe("GET", "networks", 200, time.Millisecond)
	m.Observe("GET", "networks", 200, time.Millisecond)
	m.Observe("GET", "ports", 404, time.Millisecond)
	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`neutrino_api_requests_total{resource="networks",status="200",verb="GET"} 2`,
		`neutrino_api_requests_total{resource="ports",status="404",verb="GET"} 1`,
		`neutrino_api_request_duration_seconds_count{resource="networks",verb="GET"} 2`,
		`neutrino_changelog_head_revision 42`,
		`neutrino_watcher_lag_revisions{host="compute-1"} 3`,
		`neutrino_db_transaction_retries_total 7`,
		`neutrino_agents{agent_type="Open vSwitch agent",state="alive"} 2`,
		`neutrino_agents{agent_type="Open vSwitch agent",state="dead"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

type fakeAgent struct{}

func (fakeAgent) Revision() int64        { return 5 }
func (fakeAgent) AppliedRevision() int64 { return 4 }
func (fakeAgent) Snapshots() int64       { return 1 }
func (fakeAgent) Reconnects() int64      { return 0 }
func (fakeAgent) DeviceWakes() int64     { return 2 }

// Every neutrino_ series the Grafana dashboard queries is one we export.
func TestDashboardSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	// Vectors appear once they have a child.
	NewServer(reg, fakeSource{}).Observe("GET", "ports", 404, time.Millisecond)
	NewAgent(reg, fakeAgent{})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		name := mf.GetName()
		have[name] = true
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			have[name+suffix] = true
		}
	}
	b, err := os.ReadFile("../../docs/grafana-neutrino.json")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`neutrino_[a-z_]+`).FindAllString(string(b), -1)
	if len(names) < 10 {
		t.Fatalf("dashboard names only %d series", len(names))
	}
	for _, n := range names {
		if !have[n] {
			t.Errorf("dashboard queries %s, which is not exported", n)
		}
	}
}
