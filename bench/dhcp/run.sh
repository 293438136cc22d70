#!/bin/bash
# bench/dhcp/run.sh: the DHCP agent of neutrino against Neutron's (2023.1,
# Debian's neutron-dhcp-agent 2:21.0.0), the same work in the same run:
#   1. the agent started and registered, N networks with a DHCP subnet
#      each are made (bulk, 50 a request); the server schedules them to
#      the agent, which serves them as they come: time until all N run a
#      dnsmasq (not the comparison: it includes the API's creates);
#   2. P ports created one by one on the first network, each by dhcpack
#      (bench/dhcp/dhcpack) as the port's VM: it creates the port through
#      the API and asks by DHCP all along (every 20 ms) from a VM namespace
#      on a bridge with the network's DHCP tap; it reports the API round
#      trip and the time from the create's start to the DHCPACK;
#   3. the agent restarted: the full sync, from its start until it logs
#      the sync done (Neutron "Synchronizing state complete", neutrino
#      "desired state applied") with the N dnsmasq still running.
# A step not done after LIMIT seconds (default 1200) is reported as how
# many dnsmasq run by then.
# Usage (root): [LIMIT=s] bench/dhcp/run.sh [N=100] [P=20] [neutron|neutrino|both]
# Needs the reference Neutron server up: /work/shared/reference/neutron-ref-up.sh
# (127.0.0.1:9696, RabbitMQ 127.0.0.1:5672) and Debian's neutron-dhcp-agent
# package (apt-get install neutron-dhcp-agent; only its Python code is used).
# Both agents run in one network namespace made here (the "DHCP node"; its
# taps stay out of the root namespace), interface_driver = linuxbridge (a
# veth per network, as Neutron's BridgeInterfaceDriver), dnsmasq from
# dnsmasq-base, and reach their server through a socat relay over a unix
# socket. Everything made is deleted at the end (also on failure).
set -euo pipefail
shopt -s inherit_errexit
N=${1:-100}; P=${2:-20}; WHICH=${3:-both}; LIMIT=${LIMIT:-1200}
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
W=/var/lib/neutrino-dhcpbench; R=$W/run
NEUTRON=http://127.0.0.1:9696
NEUTRINO_PORT=9686; NEUTRINO_RPC=9687; NEUTRINO=http://127.0.0.1:$NEUTRINO_PORT
H='Content-Type: application/json'
NS=ndb-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n'); VM=$NS-vm
PIDS=()

log() { echo "[$(date +%T)] $*" >&2; }
now() { date +%s.%N; }
stoppid() { local p=$1 i; kill "$p" 2>/dev/null || return 0; for i in $(seq 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$p" 2>/dev/null || true; }

# sweep stops what an agent left behind for its state dir: dnsmasq by pid
# file, the qdhcp- namespaces of the networks that have a directory.
sweep() {
  local dir=$1 d pid
  [ -d "$dir/dhcp" ] || return 0
  for d in "$dir"/dhcp/*/; do
    [ -d "$d" ] || continue
    if [ -f "$d/pid" ]; then pid=$(cat "$d/pid"); grep -qa -- "--pid-file=${d}pid" /proc/$pid/cmdline 2>/dev/null && stoppid "$pid"; fi
    ip netns del "qdhcp-$(basename "$d")" 2>/dev/null || true
  done
  rm -rf "$dir/dhcp"
}
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do stoppid "$p"; done
  [ -f $R/agent.pid ] && stoppid "$(cat $R/agent.pid)"
  for p in $(grep -l "neutrino-dhcpbench" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    [ "$p" != $$ ] && grep -qa privsep /proc/$p/cmdline && stoppid "$p"; done
  sweep $W/neutron; sweep $W/neutrino
  ip netns del $VM 2>/dev/null
  ip netns del $NS 2>/dev/null
  rm -f $R/*.sock
}
trap cleanup EXIT
trap "exit 1" INT TERM

mkdir -p $W $R $W/neutron/lock $W/neutrino
exec 9>$W/run.lock
flock -n 9 || { log "another bench/dhcp/run.sh is running"; trap - EXIT; exit 1; }
chmod 755 $W $W/neutron $W/neutrino  # dnsmasq reads its files after dropping root
ip netns add $NS; ip -n $NS link set lo up
relay() { # port: 127.0.0.1:port inside $NS -> the same port in the root namespace
  local port=$1
  (cd / && exec setsid socat UNIX-LISTEN:$R/relay-$port.sock,fork,unlink-early TCP:127.0.0.1:$port) </dev/null >/dev/null 2>&1 &
  PIDS+=($!)
  sleep 0.2
  (cd / && exec setsid ip netns exec $NS socat TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:$R/relay-$port.sock) </dev/null >/dev/null 2>&1 &
  PIDS+=($!)
}
relay 5672; relay $NEUTRINO_RPC

api() { # url method path body -> stdout
  curl -sf -H "$H" -X "$2" "$1$3" ${4:+-d "$4"}
}
jget() { python3 -c "import sys,json;print(json.load(sys.stdin)$1)"; }

# purge EP: deletes what an earlier, interrupted run left on the server
# (networks named dhcpbench-*, their ports), so every run does N networks.
purge() {
  local ep=$1 id p
  for id in $(api $ep GET "/v2.0/networks?fields=id&fields=name" |
      python3 -c 'import sys,json;print(" ".join(n["id"] for n in json.load(sys.stdin)["networks"] if n["name"].startswith("dhcpbench-")))'); do
    for p in $(api $ep GET "/v2.0/ports?network_id=$id&fields=id" | python3 -c 'import sys,json;print(" ".join(p["id"] for p in json.load(sys.stdin)["ports"]))'); do
      api $ep DELETE /v2.0/ports/$p >/dev/null || true; done
    api $ep DELETE /v2.0/networks/$id >/dev/null || true
  done
}
# networks EP: N networks, a DHCP subnet each (bulk creates of 50, so
# that 1,000 networks are made in seconds); prints their ids
networks() {
  local ep=$1 from to
  for from in $(seq 1 50 $N); do
    to=$((from + 49 < N ? from + 49 : N))
    api $ep POST /v2.0/networks "$(python3 -c 'import json,sys;print(json.dumps({"networks":[{"name":"dhcpbench-%d"%i} for i in range(int(sys.argv[1]),int(sys.argv[2])+1)]}))' $from $to)" |
      python3 -c 'import json,sys
nets=json.load(sys.stdin)["networks"]
print(json.dumps({"subnets":[{"network_id":n["id"],"ip_version":4,"cidr":"10.%d.%d.0/24"%(i//250,i%250)} for i,n in ((int(n["name"].split("-")[1]),n) for n in nets)]}))' >$R/subnets.json
    api $ep POST /v2.0/subnets @$R/subnets.json | python3 -c 'import json,sys;print("\n".join(s["network_id"] for s in json.load(sys.stdin)["subnets"]))'
  done
}
# dnsmasqs DIR: how many dnsmasq run for DIR's networks
dnsmasqs() {
  local n=0 d pid
  for d in "$1"/dhcp/*/; do
    [ -f "$d/pid" ] || continue; pid=$(cat "$d/pid" 2>/dev/null) || continue
    grep -qa -- "--pid-file=${d}pid" /proc/$pid/cmdline 2>/dev/null && n=$((n + 1))
  done
  echo $n
}
# vm_plug EP NETWORK: plays the Linux bridge agent for one network: a
# bridge in the DHCP node joining the network's DHCP tap and a VM
# namespace's veth, where dhcpack asks as the port's VM.
vm_plug() {
  local ep=$1 net=$2 id
  id=$(api $ep GET "/v2.0/ports?network_id=$net&device_owner=network:dhcp&fields=id" | grep -o '"id": *"[^"]*"' | cut -d'"' -f4 | head -n1)
  ip -n $NS link add brq-bench type bridge
  ip -n $NS link set brq-bench up
  ip -n $NS link set tap${id:0:11} master brq-bench
  ip netns add $VM
  ip -n $VM link set lo up
  ip -n $NS link add tap-vm type veth peer name eth0 netns $VM
  ip -n $NS link set tap-vm master brq-bench
  ip -n $NS link set tap-vm up
  ip -n $VM link set eth0 up
}
vm_unplug() {
  ip netns del $VM 2>/dev/null || true
  ip -n $NS link del brq-bench 2>/dev/null || true
}
waitlog() { # file pattern after-line timeout_s
  local end=$((SECONDS + $4))
  while [ $SECONDS -lt $end ]; do tail -n +$(($3 + 1)) "$1" 2>/dev/null | grep -q "$2" && return 0; sleep 0.05; done
  return 1
}
# registered EP HOST: waits until the server lists the host's DHCP agent alive
registered() {
  local end=$((SECONDS + 600))
  while [ $SECONDS -lt $end ]; do
    api $1 GET "/v2.0/agents?host=$2&fields=alive" | grep -q '"alive": *true' && return 0; sleep 0.5; done
  return 1
}

start_agent() { # system logfile
  local sys=$1 out=$2
  case $sys in
  neutron)
    (cd / && exec setsid nsenter --net=/run/netns/$NS sh -c "echo \$\$ > $R/agent.pid; exec neutron-dhcp-agent --config-file /etc/neutron-ref/neutron.conf --config-file $W/neutron/dhcp_agent.ini") >>$out 2>&1 </dev/null & ;;
  neutrino)
    (cd / && exec setsid nsenter --net=/run/netns/$NS sh -c "echo \$\$ > $R/agent.pid; exec $W/bin/neutrino agent dhcp --config-file $W/neutrino/agent.conf") >>$out 2>&1 </dev/null & ;;
  esac
}

run() { # system
  local sys=$1 ep dir logf done_re ids t0 t1 first i out
  dir=$W/$sys
  case $sys in
  neutron)
    ep=$NEUTRON; logf=$dir/dhcp-agent.log; done_re='Synchronizing state complete'
    cat >$dir/dhcp_agent.ini <<INI
[DEFAULT]
host = dhcpbench-neutron
transport_url = rabbit://guest:guest@127.0.0.1:5672/
state_path = $dir
interface_driver = linuxbridge
dhcp_driver = neutron.agent.linux.dhcp.Dnsmasq
enable_isolated_metadata = False
log_file = $logf
log_dir =
debug = False
[agent]
root_helper =
report_interval = 30
[oslo_concurrency]
lock_path = $dir/lock
INI
    ;;
  neutrino)
    ep=$NEUTRINO; logf=$dir/agent.log; done_re='desired state applied'
    cat >$dir/server.conf <<INI
[DEFAULT]
auth_strategy = noauth
bind_host = 127.0.0.1
bind_port = $NEUTRINO_PORT
rpc_bind_host = 127.0.0.1
rpc_bind_port = $NEUTRINO_RPC
state_path = $dir
dhcp_agents_per_network = 1
[database]
connection = sqlite:///$dir/neutrino.db
[quotas]
quota_network = -1
quota_subnet = -1
quota_port = -1
INI
    cat $REPO/bench/reference/etc/ml2_conf.ini >>$dir/server.conf
    cat >$dir/agent.conf <<INI
[DEFAULT]
host = dhcpbench-neutrino
transport_url = grpc://127.0.0.1:$NEUTRINO_RPC
state_path = $dir
interface_driver = linuxbridge
report_interval = 30
INI
    rm -f $dir/neutrino.db
    $W/bin/neutrino db upgrade head --config-file $dir/server.conf >$dir/db.log 2>&1
    (cd / && exec setsid $W/bin/neutrino server --config-file $dir/server.conf) >$dir/server.log 2>&1 </dev/null &
    PIDS+=($!)
    for i in $(seq 100); do curl -sf -o /dev/null $ep/v2.0/networks && break; sleep 0.1; done
    ;;
  esac
  : >$logf
  purge $ep
  # The agent runs while the networks are made, so the server schedules
  # each to it as its subnet is made (Neutron schedules only to an agent
  # alive then; an agent starting with networks lacking one races its
  # own first report) and the agent configures them as they come.
  log "$sys: agent start, then $N networks made while it runs"
  start_agent $sys $logf
  registered $ep dhcpbench-$sys || { log "$sys: the agent did not register"; exit 1; }
  t0=$(now)
  ids=$(networks $ep); first=$(echo "$ids" | head -n1)
  t1=$(now)
  local end=$((SECONDS + LIMIT)) got=0
  while [ $SECONDS -lt $end ]; do got=$(dnsmasqs $dir); [ $got -ge $N ] && break; sleep 2; done
  echo "$sys networks N=$N made_s=$(echo "$t1 - $t0" | bc) all_served_s=$(echo "$(now) - $t0" | bc) dnsmasq_running=$got"
  [ $got -ge $N ] || { log "$sys: only $got of $N networks served after ${LIMIT}s"; teardown $sys $ep "$ids" "$first"; return; }
  log "$sys: $P ports on the first network, a VM asking for each by DHCP"
  vm_plug $ep $first
  for i in $(seq 1 $P); do
    out=$($W/bin/dhcpack -netns $VM -i eth0 -url $ep -network $first -name dhcpbench-p$i -interval 20ms) ||
      { log "$sys: no DHCP ACK for port $i"; exit 1; }
    echo "$sys $out"
  done
  vm_unplug
  stoppid "$(cat $R/agent.pid)"
  local lines; lines=$(wc -l <$logf)
  log "$sys: agent restart ($(dnsmasqs $dir) dnsmasq running)"
  t0=$(now); start_agent $sys $logf
  if waitlog $logf "$done_re" $lines $LIMIT; then
    t1=$(now)
    echo "$sys restart-sync N=$N s=$(echo "$t1 - $t0" | bc) dnsmasq_running=$(dnsmasqs $dir)"
  else
    echo "$sys restart-sync N=$N not done after ${LIMIT}s: dnsmasq_running=$(dnsmasqs $dir)"
  fi
  teardown $sys $ep "$ids" "$first"
}

# teardown SYS EP IDS FIRST: stops the agent, deletes the ports and
# networks on the server (in parallel: Neutron takes about a second per
# network) and what the agent left on the node.
teardown() {
  local sys=$1 ep=$2 ids=$3 first=$4 p
  log "$sys: stopping the agent, deleting the networks"
  stoppid "$(cat $R/agent.pid)"; rm -f $R/agent.pid
  for p in $(api $ep GET "/v2.0/ports?network_id=$first&device_owner=compute:nova&fields=id" | python3 -c 'import sys,json;print(" ".join(p["id"] for p in json.load(sys.stdin)["ports"]))'); do
    api $ep DELETE /v2.0/ports/$p >/dev/null || true; done
  echo "$ids" | xargs -P 6 -I{} curl -sf -o /dev/null -X DELETE $ep/v2.0/networks/{} || log "$sys: some network deletes failed"
  sweep $W/$sys
  if [ $sys = neutron ]; then
    aid=$(api $ep GET "/v2.0/agents?host=dhcpbench-neutron&fields=id" | jget '["agents"][0]["id"]' 2>/dev/null) && api $ep DELETE /v2.0/agents/$aid >/dev/null || true
  fi
}

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg); commit $(git -C $REPO rev-parse --short HEAD 2>/dev/null)"
(cd $REPO && go build -o $W/bin/dhcpack ./bench/dhcp/dhcpack)
[ "$WHICH" = neutron ] || (cd $REPO && go build -o $W/bin/neutrino ./cmd/neutrino)
[ "$WHICH" = neutrino ] || curl -sf -o /dev/null $NEUTRON/v2.0/networks || { log "the reference Neutron is not up on $NEUTRON (neutron-ref-up.sh)"; exit 1; }
case $WHICH in
  both) run neutrino; run neutron ;;
  *) run $WHICH ;;
esac
echo "# done; load: $(cut -d' ' -f1-3 /proc/loadavg)"
