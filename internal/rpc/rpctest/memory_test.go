package rpctest

import (
	"context"
	"encoding/json"
	"testing"

	"neutrino/internal/neutron"
)

// The stand-in logs heartbeats as the plugin does: the first report and
// a report that changes the agent (configurations, a restart) are rows,
// a heartbeat that changes only the timestamp is not, and does not wake
// the change-log readers.
func TestHeartbeatRows(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	r := neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Binary: "neutron-openvswitch-agent", Host: "compute-1", Topic: "N/A",
		Configurations: json.RawMessage(`{"devices":0}`), StartFlag: true, TunnelIP: "198.18.0.1"}
	report := func(r neutron.AgentReport) {
		t.Helper()
		if _, err := m.ReportState(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	report(r)
	rev := m.Revision()
	if rev != 2 { // the agent and its endpoint
		t.Fatalf("first report: revision %d, want 2", rev)
	}
	beat := r
	beat.StartFlag = false
	woken := m.Committed()
	report(beat)
	report(beat)
	if got := m.Revision(); got != rev {
		t.Fatalf("unchanged heartbeats moved the log from %d to %d", rev, got)
	}
	select {
	case <-woken:
		t.Fatal("an unchanged heartbeat woke the change-log readers")
	default:
	}
	beat.Configurations = json.RawMessage(`{"devices":3,"l2_population":true}`)
	report(beat)
	restart := beat
	restart.StartFlag = true
	report(restart)
	cs, err := m.Changes(ctx, rev, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Kind != neutron.KindAgent || cs[1].Kind != neutron.KindAgent {
		t.Fatalf("configurations change and restart logged %+v, want two agent rows", cs)
	}
	if a, err := neutron.Decode[neutron.Agent](cs[0]); err != nil || string(a.Configurations) != `{"devices":3,"l2_population":true}` {
		t.Fatalf("logged %+v (%v)", a, err)
	}
}
