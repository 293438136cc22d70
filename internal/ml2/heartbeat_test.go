package ml2

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// A heartbeat that changes nothing but the agent's heartbeat_timestamp
// writes the timestamp (liveness reads it) but no change-log row; a
// report whose only other change is the devices count does not either; a
// report that changes what the log carries (start, configurations), and
// a report from an agent that was down, writes one.
func TestHeartbeatChangeRows(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		clock := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
		p.SetClock(func() time.Time { return clock })
		report := func(r neutron.AgentReport) *neutron.Agent {
			t.Helper()
			a, err := p.ReportState(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		// rows returns the agent rows logged after rev, and the newest
		// revision.
		rows := func(after int64) ([]neutron.Change, int64) {
			t.Helper()
			var out []neutron.Change
			last := after
			for _, c := range mustChanges(t, p, after) {
				if c.Kind == neutron.KindAgent {
					out = append(out, c)
				}
				last = c.Revision
			}
			return out, last
		}
		first := ovsReport("node-1", "198.18.0.1")
		a := report(first)
		if got, _ := rows(0); len(got) != 1 || got[0].Op != neutron.OpCreate {
			t.Fatalf("first report: agent rows %+v, want one create", got)
		}
		_, rev := rows(0)

		beat := first
		beat.StartFlag = false
		for i := 0; i < 3; i++ {
			clock = clock.Add(30 * time.Second)
			report(beat)
		}
		if got, r := rows(rev); len(got) != 0 || r != rev {
			t.Fatalf("three unchanged heartbeats logged %d agent rows (revision %d -> %d)", len(got), rev, r)
		}
		read, err := p.GetAgent(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !read.HeartbeatAt.Equal(clock) || !read.Alive {
			t.Fatalf("heartbeat_timestamp %s alive %v, want %s and alive", read.HeartbeatAt, read.Alive, clock)
		}

		// A report whose only change is the devices count (a port
		// plugged on the host) updates the agents table, not the log:
		// no view reads the count.
		plugged := beat
		for _, n := range []int{2, 1} {
			plugged.Configurations = json.RawMessage(fmt.Sprintf(`{"devices":%d,"tunnel_types":["vxlan"],"tunneling_ip":"198.18.0.1","datapath_type":"netdev","integration_bridge":"br-int","l2_population":true}`, n))
			clock = clock.Add(30 * time.Second)
			report(plugged)
			if got, r := rows(rev); len(got) != 0 || r != rev {
				t.Fatalf("devices %d: logged %+v (revision %d -> %d), want nothing", n, got, rev, r)
			}
			var conf struct{ Devices *int }
			if err := json.Unmarshal(mustGetAgent(t, p, a.ID).Configurations, &conf); err != nil || conf.Devices == nil || *conf.Devices != n {
				t.Fatalf("devices %d: agents table has %s (%v)", n, mustGetAgent(t, p, a.ID).Configurations, err)
			}
		}

		// What the log carries changed: the configurations (the bridge
		// settings), then a restart (start_flag moves started_at).
		changed := beat
		changed.Configurations = json.RawMessage(`{"devices":3,"tunnel_types":["vxlan"],"tunneling_ip":"198.18.0.1","l2_population":true}`)
		clock = clock.Add(30 * time.Second)
		report(changed)
		got, r := rows(rev)
		if len(got) != 1 {
			t.Fatalf("configurations changed: agent rows %+v, want one", got)
		}
		logged, err := neutron.Decode[neutron.Agent](got[0])
		if err != nil || string(logged.Configurations) != string(mustGetAgent(t, p, a.ID).Configurations) {
			t.Fatalf("logged agent %+v (%v), read %+v", logged, err, mustGetAgent(t, p, a.ID))
		}
		rev = r
		restart := changed
		restart.StartFlag = true
		clock = clock.Add(30 * time.Second)
		report(restart)
		if got, r := rows(rev); len(got) != 1 || !mustDecodeAgent(t, got[0]).StartedAt.Equal(clock) {
			t.Fatalf("restart: agent rows %+v, want one with started_at %s", got, clock)
		} else {
			rev = r
		}

		// Down for longer than agent_down_time, then back: logged (the
		// agent came back alive), then quiet again.
		clock = clock.Add(10 * time.Minute)
		if dead := mustGetAgent(t, p, a.ID); dead.Alive {
			t.Fatal("agent still alive 10 minutes after its last heartbeat")
		}
		report(changed)
		if got, r := rows(rev); len(got) != 1 || !mustDecodeAgent(t, got[0]).HeartbeatAt.Equal(clock) {
			t.Fatalf("agent back alive: agent rows %+v, want one with heartbeat %s", got, clock)
		} else {
			rev = r
		}
		clock = clock.Add(30 * time.Second)
		report(changed)
		if got, _ := rows(rev); len(got) != 0 {
			t.Fatalf("heartbeat after coming back logged %+v", got)
		}
	})
}

func mustGetAgent(t *testing.T, p *Plugin, id string) *neutron.Agent {
	t.Helper()
	a, err := p.GetAgent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustDecodeAgent(t *testing.T, c neutron.Change) neutron.Agent {
	t.Helper()
	a, err := neutron.Decode[neutron.Agent](c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
