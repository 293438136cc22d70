#!/bin/bash
# bench/dhcp/run.sh: the DHCP agent of neutrino against Neutron's (2023.1,
# Debian's neutron-dhcp-agent 2:21.0.0), the same work in the same run:
#   1. the agent started and registered, N networks with a DHCP subnet
#      each are made (bulk, 50 a request), and those the server did not
#      schedule to the agent by itself are added to it by hand (POST
#      /v2.0/agents/ID/dhcp-networks: Neutron schedules a network only to
#      a DHCP agent whose host also has an L2 agent that can reach it, and
#      none runs here); the agent serves them as they come: time until all
#      N run a dnsmasq (not the comparison: it includes the API's creates);
#   2. P ports created one by one on the first network, each by dhcpack
#      (bench/dhcp/dhcpack) as the port's VM: it creates the port through
#      the API and asks by DHCP all along (every 20 ms) from a VM namespace
#      on a bridge with the network's DHCP tap; it reports the API round
#      trip and the time from the create's start to the DHCPACK;
#   3. the agent restarted: the full sync, from its start until it logs
#      the sync done (Neutron "Synchronizing state complete", neutrino
#      "desired state applied") with the N dnsmasq still running (Neutron's
#      agent restarts each; neutrino's adopts them).
# A step not done after LIMIT seconds (default 1200; the restart's:
# RESTART_LIMIT, default LIMIT) is reported as how far it got: how many
# dnsmasq run (and, after the restart, how many of them were started
# since); the run goes on with what is served.
# Usage (root): [LIMIT=s] [RESTART_LIMIT=s] [W=state dir] bench/dhcp/run.sh [N=100] [P=20] [neutron|neutrino|both]
# Needs the reference Neutron server up: /work/shared/reference/neutron-ref-up.sh
# (127.0.0.1:9696, RabbitMQ 127.0.0.1:5672) and Debian's neutron-dhcp-agent
# package (apt-get install neutron-dhcp-agent; only its Python code is used).
# Both agents run in one network namespace made here (the "DHCP node"; its
# taps stay out of the root namespace), interface_driver = linuxbridge (a
# veth per network, as Neutron's BridgeInterfaceDriver), dnsmasq from
# dnsmasq-base, and reach their server through a socat relay over a unix
# socket. Everything made is deleted at the end (also on failure).
source "$(dirname "${BASH_SOURCE[0]}")/../reference/lib.sh"  # log, api, relay, stoppid, ...
set -euo pipefail
shopt -s inherit_errexit
N=${1:-100}; P=${2:-20}; WHICH=${3:-both}; LIMIT=${LIMIT:-1200}; RESTART_LIMIT=${RESTART_LIMIT:-$LIMIT}
W=${W:-/var/lib/neutrino-dhcpbench}; R=$W/run
NEUTRON=http://127.0.0.1:9696
NEUTRINO_PORT=9686; NEUTRINO_RPC=9687; NEUTRINO=http://127.0.0.1:$NEUTRINO_PORT
NS=ndb-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n'); VM=$NS-vm
PIDS=()

# sweep stops what an agent left behind for its state dir: its dnsmasq
# (by pid file, all at once: each stop waits for its exit), the qdhcp-
# namespaces of the networks that have a directory.
sweep() {
  local dir=$1 d p i
  [ -d "$dir/dhcp" ] || return 0
  p=$(pids $dir); [ -z "$p" ] || kill $p 2>/dev/null || true
  for i in $(seq 100); do [ -z "$(pids $dir)" ] && break; sleep 0.1; done
  p=$(pids $dir); [ -z "$p" ] || { log "dnsmasq $p ignored TERM; KILL"; kill -9 $p 2>/dev/null || true; }
  for d in "$dir"/dhcp/*/; do [ -d "$d" ] && { ip netns del "qdhcp-$(basename "$d")" 2>/dev/null || true; }; done
  rm -rf "$dir/dhcp"
}
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do stoppid "$p" 10; done
  [ -f $R/agent.pid ] && stoppid "$(cat $R/agent.pid)" 10
  stop_privsep $W
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
relay 5672; relay $NEUTRINO_RPC

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
# schedule EP AGENT IDS: adds the networks of IDS the agent does not host
# yet to it (4 at a time); prints how many it added.
schedule() {
  local ep=$1 aid=$2
  echo "$3" | python3 -c 'import sys,json
hosted={n["id"] for n in json.load(open(sys.argv[1]))["networks"]}
sys.stdout.write("".join(i + "\n" for i in sys.stdin.read().split() if i not in hosted))' <(api $ep GET /v2.0/agents/$aid/dhcp-networks) >$R/unhosted
  xargs -r -P 4 -I{} curl -sf -o /dev/null -H 'Content-Type: application/json' -X POST $ep/v2.0/agents/$aid/dhcp-networks \
    -d '{"network_id":"{}"}' <$R/unhosted || log "some networks could not be added to the agent"
  wc -l <$R/unhosted
}
# pids DIR: the pids of the dnsmasq running for DIR's networks, one a line
# (one process for all: a shell loop over 1,000 pid files takes minutes
# under load)
pids() {
  python3 - "$1" <<'PY'
import glob, os, sys
for f in glob.glob(os.path.join(sys.argv[1], "dhcp", "*", "pid")):
    try:
        pid = int(open(f).read().strip())
        if ("--pid-file=" + f).encode() in open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0"):
            print(pid)
    except (OSError, ValueError):
        pass
PY
}
serving() { local d=$1/dhcp/$2/ pid; pid=$(cat ${d}pid 2>/dev/null) && grep -qa -- "--pid-file=${d}pid" /proc/$pid/cmdline 2>/dev/null; }  # DIR NET
dnsmasqs() { pids "$1" | wc -l; }  # DIR: how many dnsmasq run for DIR's networks
started() { pids "$1" | grep -vxFf "$2" | wc -l; }  # DIR FILE: of those, started since FILE's pids
# vm_plug EP NETWORK: plays the Linux bridge agent for one network: a
# bridge in the DHCP node joining the network's DHCP tap and a VM
# namespace's veth, where dhcpack asks as the port's VM.
vm_plug() {
  local ep=$1 net=$2 id
  id=$(api $ep GET "/v2.0/ports?network_id=$net&device_owner=network:dhcp&fields=id" | jget '["ports"][0]["id"]')
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
start_agent() { # system logfile
  case $1 in
  neutron) start_in $R/agent.pid $2 neutron-dhcp-agent --config-file /etc/neutron-ref/neutron.conf --config-file $W/neutron/dhcp_agent.ini ;;
  neutrino) start_in $R/agent.pid $2 $W/bin/neutrino agent dhcp --config-file $W/neutrino/agent.conf ;;
  esac
}

run() { # system
  local sys=$1 ep dir logf done_re ids t0 t1 first i out aid byhand
  dir=$W/$sys
  case $sys in
  neutron)
    ep=$NEUTRON; logf=$dir/dhcp-agent.log; done_re='Synchronizing state complete'
    neutron_agent_ini $dir/dhcp_agent.ini $dir dhcpbench-neutron $logf "dhcp_driver = neutron.agent.linux.dhcp.Dnsmasq
enable_isolated_metadata = False"
    ;;
  neutrino)
    ep=$NEUTRINO; logf=$dir/agent.log; done_re='desired state applied'
    neutrino_server $W/bin/neutrino $dir $NEUTRINO_PORT $NEUTRINO_RPC "dhcp_agents_per_network = 1"
    neutrino_agent_conf $dir dhcpbench-neutrino $NEUTRINO_RPC
    ;;
  esac
  : >$logf
  purge_networks $ep dhcpbench-
  # The agent runs while the networks are made: an agent started after
  # them races its own first report (Neutron schedules networks only to
  # an agent it has heard from) and the agent configures them as they come.
  log "$sys: agent start, then $N networks made while it runs"
  start_agent $sys $logf
  aid=$(agent_id $ep dhcpbench-$sys "DHCP agent" 600) || { log "$sys: the agent did not register"; tail -n 20 $logf >&2; exit 1; }
  t0=$(now)
  ids=$(networks $ep); first=$(echo "$ids" | head -n1)
  t1=$(now)
  byhand=$(schedule $ep $aid "$ids")
  local end=$((SECONDS + LIMIT)) got=0
  while [ $SECONDS -lt $end ]; do got=$(dnsmasqs $dir); [ $got -ge $N ] && break; sleep 2; done
  echo "$sys networks N=$N made_s=$(echo "$t1 - $t0" | bc) added_by_hand=$byhand served_s=$(echo "$(now) - $t0" | bc) dnsmasq_running=$got"
  # Not all served in time: the rest of the run still measures what it
  # can (the restart's full sync has all N networks to sync either way).
  [ $got -ge $N ] || log "$sys: only $got of $N networks served after ${LIMIT}s; going on"
  serving $dir $first || { log "$sys: the first network is not served"; teardown $sys $ep "$ids" "$first"; return; }
  log "$sys: $P ports on the first network, a VM asking for each by DHCP"
  vm_plug $ep $first
  for i in $(seq 1 $P); do
    out=$($W/bin/dhcpack -netns $VM -i eth0 -url $ep -network $first -name dhcpbench-p$i -interval 20ms) ||
      { log "$sys: no DHCP ACK for port $i"; exit 1; }
    echo "$sys $out"
  done
  vm_unplug
  # Nothing slow between the stop and the start: an agent silent for
  # longer than agent_down_time is dead to its server.
  pids $dir >$R/pids-before
  log "$sys: agent restart ($(wc -l <$R/pids-before) dnsmasq running)"
  stoppid "$(cat $R/agent.pid)" 10
  local lines; lines=$(wc -l <$logf)
  t0=$(now); start_agent $sys $logf
  if waitlog $logf "$done_re" $lines $RESTART_LIMIT; then
    t1=$(now)
    echo "$sys restart-sync N=$N s=$(echo "$t1 - $t0" | bc) dnsmasq_running=$(dnsmasqs $dir) dnsmasq_started_since=$(started $dir $R/pids-before)"
  else
    echo "$sys restart-sync N=$N not done after ${RESTART_LIMIT}s: dnsmasq_running=$(dnsmasqs $dir) dnsmasq_started_since=$(started $dir $R/pids-before)"
  fi
  teardown $sys $ep "$ids" "$first"
}

# teardown SYS EP IDS FIRST: stops the agent, deletes the ports and
# networks on the server (in parallel: Neutron takes about a second per
# network) and what the agent left on the node.
teardown() {
  local sys=$1 ep=$2 ids=$3 first=$4 p
  log "$sys: stopping the agent, deleting the networks"
  stoppid "$(cat $R/agent.pid)" 10; rm -f $R/agent.pid
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
