// Package openflow is the smallest OpenFlow client the OVS data plane
// needs: one persistent connection to a bridge's management socket
// (<rundir>/<bridge>.mgmt, the one ovs-ofctl uses), OpenFlow 1.4, and
// flow mods applied as atomic bundles.
//
// Why our own. Every flow change used to start one `ovs-ofctl --bundle`
// process: fork, exec, dynamic loading, a fresh connection with its own
// HELLO, a bundle open round trip, then the flows. docs/BENCHMARKS.md
// measured that process at 0.09-0.26 s for a bare `ovs-ofctl probe` and
// 0.7-1.9 s for a 1,000-flow bundle at load 30, while a security-group or
// l2pop change is a handful of flows: the process, not the switch, was
// the cost of a change (issues 13 and 18). The Go OpenFlow libraries
// (antrea.io/libOpenflow, ofnet) are refused by this build's module proxy
// (research/go-deps.md), so this package implements exactly what the data
// plane uses and nothing more.
//
// What it speaks
//   - HELLO with a version bitmap; OpenFlow 1.4 (wire version 5) only: its
//     bundles are standard (OFPT_BUNDLE_CONTROL / OFPT_BUNDLE_ADD_MESSAGE),
//     it still carries Nicira's reg_load (gone in 1.5, and `load:` inside
//     ct(exec(...)) and learn(...) prints as such only when sent so), and
//     the data plane enables it on every bridge it manages.
//   - Echo requests answered at once; our own echo request after
//     EchoInterval of silence while idle, and the connection dropped when
//     the switch stays silent for EchoTimeout more. A dropped or broken
//     connection is dialled again on the next call, so a restarted
//     ovs-vswitchd (which re-creates the socket) is picked up without the
//     caller noticing; a bundle cut by a broken connection is sent once
//     more on a new one (adds replace, deletes of absent flows do nothing,
//     so a bundle is idempotent).
//   - Bundles as ovs-ofctl sends them: OPEN, one ADD per flow mod (the
//     embedded flow mod carries the ADD's xid), BARRIER, and only if the
//     switch rejected none of the adds, COMMIT; otherwise DISCARD. OVS
//     drops a rejected add from the bundle but would commit the rest, hence
//     the barrier. The flags are ATOMIC|ORDERED. Errors come back as Go
//     errors (*Error) naming the flow by the text it was parsed from.
//   - Flow mods (add, delete, delete_strict) parsed from the ovs-ofctl
//     text the data plane renders (ParseFlowMod): exactly the matches and
//     actions its flows use, OXM/NXM fields and Nicira actions (resubmit,
//     reg_load, reg_move, output to a register, learn, conntrack,
//     conjunction). A token outside that subset is an error at parse
//     time, never dropped: the data plane compares what the switch prints
//     with what it wanted by string equality, so a silently dropped field
//     would be a flow installed wrong and rewritten forever.
//
// Reading flows back (dump-flows) stays with ovs-ofctl: it happens only at
// start, after a resync and in the periodic audit, and its text is what
// the data plane's flows are written in.
package openflow
