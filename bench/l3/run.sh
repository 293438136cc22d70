#!/bin/bash
# bench/l3/run.sh: the L3 agent of neutrino against Neutron's (2023.1,
# Debian's neutron-l3-agent 2:21.0.0), the same work in the same run:
#   a. router interface add (the API call) to traffic forwarded through
#      the router: a VM on the new subnet pings a VM behind the router
#      (every 10 ms) from before the call; the first answer ends it;
#   b. floating IP associate (the API call) to the first packet reaching
#      the VM from outside: the outside pings the floating IP (every
#      10 ms) from before the call; the first answer ends it;
#   c. for each N: N routers (each with a gateway and SNAT; the first also
#      with the interfaces and floating IP above); the agent stopped and
#      started again: the time from its start to all N routers applied
#      (Neutron: "Finished a router update" logged for each; neutrino:
#      "routers converged" for all), with a VM pinging the outside through
#      the first router (SNAT, every 50 ms) across the restart: the pings
#      lost are reported.
# A step not done after LIMIT seconds (default 900) is reported as how far
# it got, and that system's run stops there.
# Usage (root): [LIMIT=s] bench/l3/run.sh ["100 1000"] [neutron|neutrino|both]
# Needs, for Neutron, the reference server up (/work/shared/reference/
# neutron-ref-up.sh: 127.0.0.1:9696, RabbitMQ 127.0.0.1:5672, the router
# service plugin) and Debian's neutron-l3-agent (its Python code only).
# Both agents run in one network namespace made here (the network node),
# interface_driver = linuxbridge (a veth per router port); bench/l3/l2stub
# plays the Linux bridge agent for both (taps into the bench's bridges).
# The outside is a namespace on the external network's bridge at
# 198.19.0.1/16 (the benchmarking range); tenant subnets exist only in
# namespaces. Everything made is deleted at the end (also on failure).
source "$(dirname "${BASH_SOURCE[0]}")/../reference/lib.sh"  # log, api, relay, stoppid, ...
set -euo pipefail
shopt -s inherit_errexit
SIZES=${1:-100 1000}; WHICH=${2:-both}; LIMIT=${LIMIT:-900}
W=/var/lib/neutrino-l3bench; R=$W/run
NEUTRON=http://127.0.0.1:9696
NEUTRINO_PORT=9676; NEUTRINO_RPC=9677; NEUTRINO=http://127.0.0.1:$NEUTRINO_PORT
H='Content-Type: application/json'
TAG=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
NS=l3b-$TAG; OUT=$NS-out; VM1=$NS-vm1; VM2=$NS-vm2
PIDS=()

# sweep deletes the router namespaces of the routers listed in $R/routers-SYS.
sweep() {
  local f=$R/routers-$1 id
  [ -f "$f" ] || return 0
  while read -r id; do ip netns del "qrouter-$id" 2>/dev/null || true; done <"$f"
  rm -f "$f"; rm -rf "$W/$1/l3" "$W/$1/external"
}
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do stoppid "$p" 10; done
  [ -f $R/agent.pid ] && stoppid "$(cat $R/agent.pid)" 10
  stop_privsep neutrino-l3bench
  sweep neutron; sweep neutrino
  for n in $VM1 $VM2 $OUT $NS; do ip netns del $n 2>/dev/null; done
  rm -f $R/*.sock
}
trap cleanup EXIT
trap "exit 1" INT TERM

mkdir -p $W $R $W/neutron/lock $W/neutrino
exec 9>$W/run.lock
flock -n 9 || { log "another bench/l3/run.sh is running"; trap - EXIT; exit 1; }

# The network node: bridges for the external network and the two tenant
# networks; the outside and two VMs, each on its bridge.
ip netns add $NS; ip -n $NS link set lo up
for b in bx-ext bx-n1 bx-n2; do ip -n $NS link add $b type bridge; ip -n $NS link set $b up; done
host() { # ns bridge addr/len gateway
  local v=v-${1##*-}
  ip netns add $1; ip -n $1 link set lo up
  ip -n $NS link add $v type veth peer name eth0 netns $1
  ip -n $NS link set $v master $2; ip -n $NS link set $v up
  ip -n $1 addr add $3 dev eth0; ip -n $1 link set eth0 up
  [ -z "$4" ] || ip -n $1 route add default via $4
  # Resolve a neighbour that appears (the router's new address) within
  # 10 ms, not the default second, so ARP is not what is timed.
  ip netns exec $1 sysctl -qw net.ipv4.neigh.eth0.retrans_time_ms=10
}
host $OUT bx-ext 198.19.0.1/16 ""
host $VM1 bx-n1 10.1.0.10/24 10.1.0.1
host $VM2 bx-n2 10.2.0.10/24 10.2.0.1

# purge EP: deletes what an earlier, interrupted run left on the server
# (floating IPs, routers and networks named l3bench-*).
purge() {
  local ep=$1 id p
  for id in $(api $ep GET "/v2.0/floatingips?fields=id&fields=description" | python3 -c 'import sys,json;print(" ".join(f["id"] for f in json.load(sys.stdin)["floatingips"] if f.get("description") == "l3bench"))'); do
    api $ep DELETE /v2.0/floatingips/$id >/dev/null || true; done
  api $ep GET "/v2.0/routers?fields=id&fields=name" | python3 -c 'import sys,json;print("\n".join(r["id"] for r in json.load(sys.stdin)["routers"] if r["name"].startswith("l3bench-")))' >$R/purge-routers
  # Their interfaces first (one listing for all), then the routers.
  api $ep GET "/v2.0/ports?device_owner=network:router_interface&fields=id&fields=device_id" |
    python3 -c 'import sys,json
ids=set(open(sys.argv[1]).read().split())
print("\n".join(p["device_id"]+" "+p["id"] for p in json.load(sys.stdin)["ports"] if p["device_id"] in ids))' $R/purge-routers |
    while read -r id p; do api $ep PUT /v2.0/routers/$id/remove_router_interface "{\"port_id\":\"$p\"}" >/dev/null || true; done
  xargs -r -P 6 -I{} curl -sf -o /dev/null -X DELETE $ep/v2.0/routers/{} <$R/purge-routers || true
  purge_networks $ep l3bench-
}

start_agent() { # system logfile
  case $1 in
  neutron) start_in $R/agent.pid $2 neutron-l3-agent --config-file /etc/neutron-ref/neutron.conf --config-file $W/neutron/l3_agent.ini ;;
  neutrino) start_in $R/agent.pid $2 $W/bin/neutrino agent l3 --config-file $W/neutrino/agent.conf ;;
  esac
}

# synced SYS LOG FROM N: whether the log after line FROM says all N
# routers were applied: Neutron logs "Finished a router update for ID"
# per router; neutrino "routers converged converged=C unchanged=U" per
# pass (a pass covers every router: C+U = N).
synced() {
  local sys=$1 logf=$2 from=$3 n=$4
  if [ $sys = neutron ]; then
    [ "$(tail -n +$((from + 1)) $logf | grep -o 'Finished a router update for [0-9a-f-]*' | sort -u | wc -l)" -ge $n ]
  else
    tail -n +$((from + 1)) $logf | grep 'routers converged' | sed -n 's/.* converged=\([0-9]*\) unchanged=\([0-9]*\).*/\1 \2/p' |
      awk -v n=$n '$1 + $2 >= n { ok = 1 } END { exit !ok }'
  fi
}
progress() { # SYS LOG FROM: routers applied so far (Neutron) or the last pass (neutrino)
  if [ $1 = neutron ]; then tail -n +$(($3 + 1)) $2 | grep -o 'Finished a router update for [0-9a-f-]*' | sort -u | wc -l
  else tail -n +$(($3 + 1)) $2 | grep 'routers converged' | tail -n1 | grep -o 'converged=[0-9]* unchanged=[0-9]*' || echo none; fi
}
waitsync() { # SYS LOG FROM N TIMEOUT
  local i
  for i in $(seq $(($5 * 20))); do synced $1 $2 $3 $4 && return 0; sleep 0.05; done
  return 1
}
# firstreply FILE T0 TIMEOUT: the seconds from T0 to the first answer
# ping -D printed into FILE after T0.
firstreply() {
  local i t
  for i in $(seq $(($3 * 100))); do
    t=$(grep 'bytes from' $1 | tr -d '[]' | awk -v t0=$2 '$1 > t0 { print $1 - t0; exit }')
    [ -n "$t" ] && { echo $t; return 0; }
    sleep 0.01
  done
  return 1
}
pinger() { # NS DST INTERVAL FILE: a background ping -D, its pid in $PING
  (cd / && exec ip netns exec $1 ping -D -n -i $3 -W 1 $2) >$4 2>&1 </dev/null &
  PING=$!; PIDS+=($PING)
}
# stopping: ping prints its summary on SIGINT.
stopping() { local i; kill -INT $1 2>/dev/null || return 0; for i in $(seq 50); do kill -0 $1 2>/dev/null || return 0; sleep 0.1; done; stoppid $1 10; }
lost() { # FILE: "sent received lost"
  awk '/packets transmitted/ { print $1, $4, $1 - $4 }' $1
}

run() { # system
  local sys=$1 ep dir logf ext sub1 sub2 n1 n2 r1 p1 fipid t0 t1 api_s lines n have i aid server=
  dir=$W/$sys
  case $sys in
  neutron)
    ep=$NEUTRON; logf=$dir/l3-agent.log
    neutron_agent_ini $dir/l3_agent.ini $dir l3bench-neutron $logf "enable_metadata_proxy = False"
    ;;
  neutrino)
    ep=$NEUTRINO; logf=$dir/agent.log
    neutrino_server $W/bin/neutrino $dir $NEUTRINO_PORT $NEUTRINO_RPC "service_plugins = router"
    server=$SERVER_PID
    neutrino_agent_conf $dir l3bench-neutrino $NEUTRINO_RPC
    ;;
  esac
  : >$logf; : >$R/routers-$sys
  purge $ep
  log "$sys: agent start"
  start_agent $sys $logf
  aid=$(agent_id $ep l3bench-$sys "L3 agent" 60) || { log "$sys: the L3 agent did not register"; tail -n 20 $logf >&2; exit 1; }
  log "$sys: external network, two tenant networks, router 1"
  ext=$(api $ep POST /v2.0/networks '{"network":{"name":"l3bench-ext","router:external":true,"provider:network_type":"flat","provider:physical_network":"physnet1"}}' | jget '["network"]["id"]')
  api $ep POST /v2.0/subnets '{"subnet":{"network_id":"'$ext'","ip_version":4,"cidr":"198.19.0.0/16","gateway_ip":"198.19.0.1","enable_dhcp":false}}' >/dev/null
  n1=$(api $ep POST /v2.0/networks '{"network":{"name":"l3bench-n1"}}' | jget '["network"]["id"]')
  sub1=$(api $ep POST /v2.0/subnets '{"subnet":{"network_id":"'$n1'","ip_version":4,"cidr":"10.1.0.0/24","gateway_ip":"10.1.0.1","enable_dhcp":false}}' | jget '["subnet"]["id"]')
  n2=$(api $ep POST /v2.0/networks '{"network":{"name":"l3bench-n2"}}' | jget '["network"]["id"]')
  sub2=$(api $ep POST /v2.0/subnets '{"subnet":{"network_id":"'$n2'","ip_version":4,"cidr":"10.2.0.0/24","gateway_ip":"10.2.0.1","enable_dhcp":false}}' | jget '["subnet"]["id"]')
  (cd / && exec setsid ip netns exec $NS $W/bin/l2stub -url $ep -map "$ext=bx-ext,$n1=bx-n1,$n2=bx-n2") >$dir/l2stub.log 2>&1 </dev/null &
  PIDS+=($!); local stub=$!
  r1=$(api $ep POST /v2.0/routers '{"router":{"name":"l3bench-1","external_gateway_info":{"network_id":"'$ext'","external_fixed_ips":[{"ip_address":"198.19.255.1"}]}}}' | jget '["router"]["id"]')
  echo $r1 >>$R/routers-$sys
  # No quota in the way of N routers (Neutron's default is 10 a project).
  proj=$(api $ep GET /v2.0/routers/$r1 | jget '["router"]["project_id"]')
  api $ep PUT /v2.0/quotas/$proj '{"quota":{"router":-1,"floatingip":-1,"port":-1,"network":-1,"subnet":-1}}' >/dev/null ||
    { log "$sys: lifting project $proj's quotas failed"; exit 1; }
  api $ep PUT /v2.0/routers/$r1/add_router_interface '{"subnet_id":"'$sub2'"}' >/dev/null
  p1=$(api $ep POST /v2.0/ports '{"port":{"name":"l3bench-vm1","network_id":"'$n1'","fixed_ips":[{"ip_address":"10.1.0.10"}]}}' | jget '["port"]["id"]')
  fipid=$(api $ep POST /v2.0/floatingips '{"floatingip":{"description":"l3bench","floating_network_id":"'$ext'","floating_ip_address":"198.19.255.200"}}' | jget '["floatingip"]["id"]')
  # Router 1 forwards VM2 to the outside (SNAT) before anything is timed.
  pinger $VM2 198.19.0.1 0.05 $R/ping-ready
  t0=$(now)
  firstreply $R/ping-ready $t0 $LIMIT >/dev/null || { log "$sys: VM2 never reached the outside through router 1"; tail -n 30 $logf >&2; exit 1; }
  stopping $PING

  log "$sys: a. router interface add -> VM1 reaches VM2 through it"
  pinger $VM1 10.2.0.10 0.01 $R/ping-a
  sleep 0.5
  t0=$(now)
  api $ep PUT /v2.0/routers/$r1/add_router_interface '{"subnet_id":"'$sub1'"}' >/dev/null
  api_s=$(echo "$(now) - $t0" | bc)
  t1=$(firstreply $R/ping-a $t0 $LIMIT) || { log "$sys: VM1 never reached VM2"; tail -n 30 $logf >&2; exit 1; }
  stopping $PING
  echo "$sys interface-add api_s=$api_s first_forwarded_s=$t1"

  log "$sys: b. floating IP associate -> the outside reaches VM1 by it"
  pinger $OUT 198.19.255.200 0.01 $R/ping-b
  sleep 0.5
  t0=$(now)
  api $ep PUT /v2.0/floatingips/$fipid '{"floatingip":{"port_id":"'$p1'"}}' >/dev/null
  api_s=$(echo "$(now) - $t0" | bc)
  t1=$(firstreply $R/ping-b $t0 $LIMIT) || { log "$sys: the outside never reached the floating IP"; tail -n 30 $logf >&2; exit 1; }
  stopping $PING
  echo "$sys fip-associate api_s=$api_s first_packet_s=$t1"

  have=1
  for n in $SIZES; do
    log "$sys: c. $((n - have)) more routers with a gateway (N=$n)"
    seq $((have + 1)) $n | xargs -P 6 -I{} curl -sf -H "$H" -X POST $ep/v2.0/routers \
      -d '{"router":{"name":"l3bench-{}","external_gateway_info":{"network_id":"'$ext'"}}}' >/dev/null || true
    have=$(api $ep GET "/v2.0/routers?fields=id&fields=name" | python3 -c 'import sys,json;print(sum(1 for r in json.load(sys.stdin)["routers"] if r["name"].startswith("l3bench-")))')
    api $ep GET "/v2.0/routers?fields=id&fields=name" | python3 -c 'import sys,json;print("\n".join(r["id"] for r in json.load(sys.stdin)["routers"] if r["name"].startswith("l3bench-")))' >$R/routers-$sys
    [ $have -eq $n ] || { log "$sys: $have routers, want $n"; exit 1; }
    log "$sys: waiting for the agent to apply $n routers"
    if ! waitsync $sys $logf 0 $n $LIMIT; then
      echo "$sys routers-applied N=$n not done after ${LIMIT}s: $(progress $sys $logf 0)"
      break
    fi
    log "$sys: restart with $n routers, VM2 pinging the outside through router 1"
    pinger $VM2 198.19.0.1 0.05 $R/ping-c
    sleep 1
    stoppid "$(cat $R/agent.pid)" 10
    lines=$(wc -l <$logf)
    t0=$(now); start_agent $sys $logf
    if ! waitsync $sys $logf $lines $n $LIMIT; then
      echo "$sys restart-sync N=$n not done after ${LIMIT}s: $(progress $sys $logf $lines)"
      stopping $PING; break
    fi
    t1=$(now)
    sleep 2
    stopping $PING
    echo "$sys restart-sync N=$n s=$(echo "$t1 - $t0" | bc) pings_sent_received_lost=$(lost $R/ping-c | tr ' ' /)"
  done
  teardown $sys $ep
  stoppid $stub 10
  [ -z "$server" ] || stoppid $server 10
}

# teardown SYS EP: stops the agent, deletes the floating IP, routers and
# networks on the server (in parallel) and the router namespaces.
teardown() {
  local sys=$1 ep=$2 aid
  log "$sys: stopping the agent, deleting the routers"
  [ -f $R/agent.pid ] && stoppid "$(cat $R/agent.pid)" 10; rm -f $R/agent.pid
  purge $ep
  sweep $sys
  aid=$(api $ep GET "/v2.0/agents?host=l3bench-$sys&fields=id" | jget '["agents"][0]["id"]' 2>/dev/null) && api $ep DELETE /v2.0/agents/$aid >/dev/null || true
}

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg); commit $(git -C $REPO rev-parse --short HEAD 2>/dev/null)"
(cd $REPO && go build -o $W/bin/l2stub ./bench/l3/l2stub)
[ "$WHICH" = neutron ] || (cd $REPO && go build -o $W/bin/neutrino ./cmd/neutrino)
[ "$WHICH" = neutrino ] || curl -sf -o /dev/null $NEUTRON/v2.0/networks || { log "the reference Neutron is not up on $NEUTRON (neutron-ref-up.sh)"; exit 1; }
relay 5672; relay $NEUTRINO_RPC; relay 9696; relay $NEUTRINO_PORT
case $WHICH in
  both) run neutrino; run neutron ;;
  *) run $WHICH ;;
esac
echo "# done; load: $(cut -d' ' -f1-3 /proc/loadavg)"
