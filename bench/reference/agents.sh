#!/bin/bash
# Two OVS agents for the bench, one per "node", for the binding:host_id row and the
# forwarding-entry convergence measurement:
#   agents.sh up neutron    real neutron-openvswitch-agent (2:21.0.0) on each node
#   agents.sh up neutrino   `neutrino agent openvswitch` on each node; the server's gRPC port is
#                           $NEUTRINO_RPC_PORT (default 9897 = neutrino on MariaDB)
#   agents.sh down          stop agents, OVS daemons, relays; delete the namespaces
#   agents.sh env           print the nodes (NODE<i>_NS, NODE<i>_OVS_RUNDIR, NODE<i>_HOST)
# FIREWALL_DRIVER=openvswitch|iptables_hybrid|noop sets [securitygroup] firewall_driver on both
# systems' agents (default noop: no security-group flows, as the API/convergence runs want).
# OF_INTERFACE=native|ovs-ofctl sets neutrino's [ovs] of_interface (default native).
# OVS_DUMMY=1 starts ovs-vswitchd with --enable-dummy, so VM interfaces can be plugged as
# type=dummy (no kernel tap behind each: 1,000 userspace-datapath internal ports take minutes).
# Node i (i = 1, 2) is a network namespace nb-<random>-n<i> with its own ovsdb-server +
# ovs-vswitchd (userspace datapath, datapath_type=netdev: this kernel has no OVS module),
# an underlay veth created directly between the two namespaces (no link in the root
# namespace) and the VTEP 198.18.99.<i>/24 on OVS bridge br-phy (userspace VXLAN needs the
# local_ip on an OVS bridge that holds the underlay port). Agents run inside the namespace
# with a private mount namespace that bind-mounts the node's OVS run dir on /run/openvswitch.
# They reach the server's RabbitMQ (5673) or gRPC (9897) on 127.0.0.1 inside their namespace
# through a socat relay over a unix socket (so the root namespace needs no extra address).
# Agent host names: bench-node-1, bench-node-2. State: /run/neutrino-bench/agents/.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
A=$R/agents
relay() { # port: root-ns unix socket -> 127.0.0.1:port, and per node netns 127.0.0.1:port -> socket
  local port=$1 i ns
  (cd / && exec setsid socat UNIX-LISTEN:$A/relay-$port.sock,fork,unlink-early TCP:127.0.0.1:$port) </dev/null >/dev/null 2>&1 &
  echo $! >$A/relay-$port.pid
  for i in 1 2; do ns=$(cat $A/n$i.ns)
    (cd / && exec setsid ip netns exec $ns socat TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:$A/relay-$port.sock) </dev/null >/dev/null 2>&1 &
    echo $! >$A/relay-$port-n$i.pid
  done
}
up() {
  local sys=$1 i ns D sfx
  [ -d $A ] && { echo "agents already up (agents.sh down first)" >&2; exit 1; }
  mkdir -p $A /run/openvswitch
  sfx=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
  for i in 1 2; do echo "nb-$sfx-n$i" >$A/n$i.ns; ip netns add "nb-$sfx-n$i"; done
  ip -n nb-$sfx-n1 link add nbu1 type veth peer name nbu2 netns nb-$sfx-n2
  for i in 1 2; do
    ns=$(cat $A/n$i.ns); D=$A/n$i; mkdir -p $D/run $D/log $D/state/lock
    ip -n $ns link set lo up; ip -n $ns link set nbu$i up
    ovsdb-tool create $D/conf.db /usr/share/openvswitch/vswitch.ovsschema
    ip netns exec $ns env OVS_RUNDIR=$D/run OVS_LOGDIR=$D/log ovsdb-server $D/conf.db --remote=punix:$D/run/db.sock \
      --remote=db:Open_vSwitch,Open_vSwitch,manager_options --pidfile=$D/run/ovsdb-server.pid --detach --log-file=$D/log/ovsdb-server.log >/dev/null 2>&1
    OVS_RUNDIR=$D/run ovs-vsctl --no-wait init
    OVS_RUNDIR=$D/run ovs-vsctl --no-wait set Open_vSwitch . external_ids:hostname=bench-node-$i external_ids:system-id=bench-node-$i
    ip netns exec $ns env OVS_RUNDIR=$D/run OVS_LOGDIR=$D/log ovs-vswitchd unix:$D/run/db.sock \
      ${OVS_DUMMY:+--enable-dummy} --pidfile=$D/run/ovs-vswitchd.pid --detach --log-file=$D/log/ovs-vswitchd.log >/dev/null 2>&1
    OVS_RUNDIR=$D/run ovs-vsctl add-br br-phy -- set bridge br-phy datapath_type=netdev -- add-port br-phy nbu$i
    ip -n $ns addr add 198.18.99.$i/24 dev br-phy; ip -n $ns link set br-phy up
  done
  case $sys in
  neutron)
    relay 5673
    for i in 1 2; do D=$A/n$i; cat >$D/agent.ini <<INI
[DEFAULT]
host = bench-node-$i
transport_url = rabbit://guest:guest@127.0.0.1:5673/
state_path = $D/state
log_file = $L/neutron-ovs-agent-n$i.log
debug = False
[oslo_concurrency]
lock_path = $D/state/lock
[agent]
tunnel_types = vxlan
l2_population = True
arp_responder = True
root_helper =
report_interval = 10
[ovs]
integration_bridge = br-int
tunnel_bridge = br-tun
local_ip = 198.18.99.$i
datapath_type = netdev
bridge_mappings =
ovsdb_connection = tcp:127.0.0.1:6640
[securitygroup]
firewall_driver = ${FIREWALL_DRIVER:-noop}
enable_security_group = True
INI
      AGENT="neutron-openvswitch-agent --config-file $D/agent.ini"; start_agent $i "$AGENT"; done ;;
  neutrino)
    RP=${NEUTRINO_RPC_PORT:-9897}; relay $RP
    BIN=${NEUTRINO_BIN:-$B/bin/neutrino}
    for i in 1 2; do D=$A/n$i; cat >$D/agent.ini <<INI
[DEFAULT]
host = bench-node-$i
transport_url = grpc://127.0.0.1:$RP
[agent]
tunnel_types = vxlan
l2_population = True
arp_responder = True
report_interval = 10
[ovs]
integration_bridge = br-int
tunnel_bridge = br-tun
local_ip = 198.18.99.$i
datapath_type = netdev
ovsdb_connection = unix:/run/openvswitch/db.sock
of_interface = ${OF_INTERFACE:-native}
[securitygroup]
firewall_driver = ${FIREWALL_DRIVER:-noop}
INI
      start_agent $i "$BIN agent openvswitch --config-file $D/agent.ini"; done ;;
  *) echo "usage: agents.sh up neutron|neutrino" >&2; down; exit 2 ;;
  esac
}
start_agent() { # i command
  local i=$1 ns; ns=$(cat $A/n$i.ns)
  (cd / && exec setsid ip netns exec $ns unshare -m --propagation private sh -c \
    "mount --bind $A/n$i/run /run/openvswitch && echo \$\$ > $A/agent-n$i.pid && exec $2 >$L/agent-n$i.stdout 2>&1 </dev/null") </dev/null >/dev/null 2>&1 &
}
down() {
  [ -d $A ] || return 0
  local i p f D ns
  for i in 1 2; do
    f=$A/agent-n$i.pid; [ -f $f ] && stoppid "$(cat $f)" 5
    # helpers the agent spawned (privsep, ovsdb monitors): matched on our unique config path
    for p in $(grep -l "$A/n$i/agent.ini" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do [ "$p" != $$ ] && stoppid "$p" 5; done
  done
  for f in $A/relay-*.pid; do [ -f "$f" ] && stoppid "$(cat $f)"; done
  for i in 1 2; do D=$A/n$i
    for p in ovs-vswitchd ovsdb-server; do [ -f $D/run/$p.pid ] && stoppid "$(cat $D/run/$p.pid)"; done
    [ -f $A/n$i.ns ] && { ns=$(cat $A/n$i.ns); ip netns pids $ns 2>/dev/null | while read -r p; do log "left in $ns: pid $p, stopping"; stoppid $p; done; ip netns del $ns; }
  done
  rm -rf $A; log "agents down"
}
case ${1:-} in
  up) up "${2:?usage: agents.sh up neutron|neutrino}" ;;
  down) down ;;
  env) for i in 1 2; do echo "NODE${i}_NS=$(cat $A/n$i.ns) NODE${i}_OVS_RUNDIR=$A/n$i/run NODE${i}_HOST=bench-node-$i"; done ;;
  *) echo "usage: agents.sh up neutron|neutrino | down | env" >&2; exit 2 ;;
esac
