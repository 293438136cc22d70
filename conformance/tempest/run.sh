#!/usr/bin/env bash
# Tempest 33's network API tests against neutrino (built from this checkout)
# or the real Neutron 2023.1, with a real Keystone validating the tokens.
#
#   conformance/tempest/run.sh [neutrino|neutron] [REGEX | --fast] [--expect FILE]
#
# REGEX defaults to ^tempest\.api\.network (the full suite). --fast runs only
# the tests in fast.txt (a few minutes) and fails if any of them does not pass.
# --expect FILE (test ids, one a line; relative to this directory or not)
# fails the run if a listed test does not pass; a full neutrino run expects
# passing.txt unless told otherwise.
#
# What it does, all on 127.0.0.1 and free ports, state in a fresh
# /tmp/neutrino-tempest.XXXXXX (kept: results/ there, logs; printed at the end):
#  1. installs Debian's tempest (1:33.0.0) and neutron-tempest-plugin if missing;
#  2. starts Keystone with scripts/keystone.sh (or reuses the one in
#     NEUTRINO_TEST_KEYSTONE*, as `make test` exports), registers the service
#     user "neutron" and the network endpoint (keystone_catalog.py);
#  3. starts the target: neutrino with auth_strategy = keystone and
#     [keystone_authtoken] (it validates tokens itself, no proxy), SQLite,
#     and a neutrino DHCP agent (its taps in a network namespace of its own,
#     qdhcp- namespaces and Debian's dnsmasq as in production), so the
#     dhcp_agent_scheduler tests have an agent to schedule to;
#     or neutron-server (Debian 2:21.0.0, keystonemiddleware) on MariaDB;
#  4. writes tempest.conf (network only; api_extensions = what the target's
#     GET /v2.0/extensions lists) and runs `tempest run --regex REGEX`;
#  5. prints run/passed/failed/skipped and the failures grouped by cause
#     (summarize.py), and stops everything it started, by PID, on any exit.
# Env: CONCURRENCY (default 2), TEMPEST_TIMEOUT (seconds, default 3600).
set -euo pipefail
# All in one function: bash parses it whole before running, so editing this
# file during a run does not change the run.
main() {
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3 # Debian's: the OpenStack libraries are installed for it
target=neutrino regex='^tempest\.api\.network' fast=0 expect=
while [ $# -gt 0 ]; do
  case $1 in
    neutrino | neutron) target=$1 ;;
    --fast) fast=1 ;;
    --expect)
      [ $# -ge 2 ] || { echo "run.sh: --expect needs a file" >&2; exit 2; }
      expect=$2; shift
      case $expect in /*) ;; *) [ -f "$expect" ] || expect=$here/$expect ;; esac
      [ -f "$expect" ] || { echo "run.sh: no file $2" >&2; exit 2; }
      expect=$(cd "$(dirname "$expect")" && pwd)/$(basename "$expect") ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) regex=$1 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (package installs, MariaDB as user mysql)" >&2; exit 1; }
export PATH=$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin

need=(tempest neutron-tempest-plugin keystone uwsgi-core uwsgi-plugin-python3 mariadb-server python3-subunit curl)
[ "$target" = neutron ] && need+=(neutron-server python3-neutron python3-pymysql python3-keystonemiddleware)
[ "$target" = neutrino ] && need+=(dnsmasq-base iproute2)
missing=()
for p in "${need[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  # policy-rc.d: packages must not start their services (keystone, neutron-server) on install
  rcd=0; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; rcd=1; }
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; }
  if [ $rcd = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

state=$(mktemp -d /tmp/neutrino-tempest.XXXXXX)
chmod 755 "$state" # MariaDB (user mysql) must reach $state/keystone/my
mkdir -p "$state/results" "$state/server"
ks_started=0 tempest_pid= wsname= dhcpns=
dhcp=$state/dhcp-agent # the neutrino DHCP agent's state_path
# kill_pid PID: TERM the process, KILL it after 30 s.
kill_pid() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 60); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.5; done
  kill -9 "$1" 2>/dev/null || true
}
# stop_pid FILE: kill_pid the process in FILE.
stop_pid() {
  [ -f "$1" ] || return 0
  kill_pid "$(cat "$1")"
  rm -f "$1"
}
# sweep_dhcp: what the DHCP agent leaves when it stops (by design: a restarted
# agent adopts it): its dnsmasq, by the pid files it wrote (only a process whose
# command line names that pid file), and the qdhcp- namespace of every network it
# has a directory for (it makes the directory before the namespace and removes it
# after); then its own namespace, which takes the taps with it.
sweep_dhcp() {
  local f pid d
  for f in "$dhcp"/dhcp/*/pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null) || continue
    grep -qaF -- "--pid-file=$f" "/proc/$pid/cmdline" 2>/dev/null && kill_pid "$pid"
  done
  for d in "$dhcp"/dhcp/*/; do
    [ -d "$d" ] && { ip netns del "qdhcp-$(basename "$d")" 2>/dev/null || true; }
  done
  rm -rf "$dhcp/dhcp"
  ip netns del "$dhcpns" 2>/dev/null || true
}
cleanup() {
  # timeout(1) runs Tempest in its own process group and passes TERM on to all of it
  [ -z "$tempest_pid" ] || { kill "$tempest_pid" 2>/dev/null || true; wait "$tempest_pid" 2>/dev/null || true; }
  stop_pid "$dhcp/pid"
  [ -z "$dhcpns" ] || sweep_dhcp
  stop_pid "$state/server/pid"
  [ $ks_started = 0 ] || bash "$repo/scripts/keystone.sh" stop "$state/keystone"
  [ "$target" = neutron ] && stop_pid "$state/neutron-db/pid"
  rm -rf "$state/keystone/my/data" "$state/neutron-db/data"
  # Tempest writes tempest.log into its working directory: keep it in the state.
  [ -z "$wsname" ] || (cd "$state" && tempest workspace remove --name "$wsname") >/dev/null 2>&1 || true
  echo "stopped what run.sh started; logs and results in $state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
port_free() { ! ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }
free_port() { local p; while :; do p=$((20000 + RANDOM % 20000)); port_free "$p" && { echo "$p"; return; }; done; }
wait_http() { for _ in $(seq "$2"); do curl -s -o /dev/null "$1" && return 0; sleep 1; done; return 1; }

# ---- Keystone ----
if [ -n "${NEUTRINO_TEST_KEYSTONE:-}" ] && [ -n "${NEUTRINO_TEST_KEYSTONE_ADMIN:-}" ]; then
  echo "keystone: reusing $NEUTRINO_TEST_KEYSTONE"
else
  mkdir -p "$state/keystone"
  ks_started=1
  ksenv=$(bash "$repo/scripts/keystone.sh" start "$state/keystone")
  eval "$ksenv"
  echo "keystone: started $NEUTRINO_TEST_KEYSTONE"
fi
KS=$NEUTRINO_TEST_KEYSTONE ADMIN_PW=$NEUTRINO_TEST_KEYSTONE_ADMIN SVC_PW=neutron-secret
# A region of the run's own: runs sharing a Keystone must not redirect each other.
port=$(free_port) region=tempest-$target-${state##*.}
$PY "$here/keystone_catalog.py" "$KS" "$ADMIN_PW" "$SVC_PW" "$region" "http://127.0.0.1:$port/"
authtoken="[keystone_authtoken]
www_authenticate_uri = $KS
auth_url = $KS
auth_type = password
username = neutron
password = $SVC_PW
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
# keystonemiddleware waits for Keystone without a time limit by default; neutrino's
# default is 10 s, which a Keystone busy creating Tempest's users on a loaded
# machine exceeds (neutrino then answers 503)
http_connect_timeout = 120"

# ---- the server under test ----
srv=$state/server
if [ "$target" = neutrino ]; then
  echo "building neutrino $(git -C "$repo" log -1 --format='%h %s' | cut -c1-60)"
  (cd "$repo" && go build -o "$srv/neutrino" ./cmd/neutrino)
  version="neutrino $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- . ':!conformance' || echo '+dirty')"
  cat >"$srv/neutron.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $port
rpc_bind_host = 127.0.0.1
rpc_bind_port = $(free_port)
state_path = $srv
auth_strategy = keystone
[database]
connection = sqlite:///$srv/neutrino.db
[ml2]
type_drivers = vxlan,flat
tenant_network_types = vxlan
mechanism_drivers = openvswitch
[ml2_type_vxlan]
vni_ranges = 1001:2000
[ml2_type_flat]
flat_networks = public
$authtoken
CONF
  (cd "$srv" && exec setsid "$srv/neutrino" server --auto-migrate --config-file "$srv/neutron.conf") \
    </dev/null >"$srv/server.log" 2>&1 &
  echo $! >"$srv/pid"
  wait_up=60
else
  version="neutron-server $(dpkg-query -W -f='${Version}' neutron-server)"
  # its own MariaDB, unix socket only
  db=$state/neutron-db
  mkdir -p "$db"; chown mysql:mysql "$db"
  mariadb-install-db --no-defaults --user=mysql --datadir="$db/data" --auth-root-authentication-method=socket \
    --skip-test-db >"$srv/db-init.log" 2>&1
  (cd / && exec setsid mariadbd --no-defaults --user=mysql --datadir="$db/data" --socket="$db/sock" \
     --pid-file="$db/pid" --skip-networking --innodb-flush-log-at-trx-commit=2) </dev/null >/dev/null 2>&1 &
  for _ in $(seq 120); do mariadb --no-defaults -S "$db/sock" -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
  mariadb --no-defaults -S "$db/sock" -uroot -e "CREATE DATABASE neutron CHARACTER SET utf8mb4;
    CREATE USER 'neutron'@'localhost' IDENTIFIED BY 'neutron'; GRANT ALL ON neutron.* TO 'neutron'@'localhost';"
  # the anchor's settings (../shared/reference/neutron-ref-etc): ML2/VXLAN, the router service plugin;
  # no message bus and no agents (fake:// transport), so DHCP scheduling tests cannot pass.
  cat >"$srv/neutron.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $port
state_path = $srv
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
transport_url = fake://
api_workers = 1
rpc_workers = 0
[database]
connection = mysql+pymysql://neutron:neutron@localhost/neutron?unix_socket=$db/sock&charset=utf8
[oslo_concurrency]
lock_path = $srv/lock
[ml2]
type_drivers = vxlan,flat
tenant_network_types = vxlan
mechanism_drivers = openvswitch
[ml2_type_vxlan]
vni_ranges = 1001:2000
[ml2_type_flat]
flat_networks = public
$authtoken
CONF
  neutron-db-manage --config-file "$srv/neutron.conf" upgrade head >"$srv/db-manage.log" 2>&1
  (cd "$srv" && exec setsid neutron-server --config-file "$srv/neutron.conf") </dev/null >"$srv/server.log" 2>&1 &
  echo $! >"$srv/pid"
  wait_up=180
fi
url=http://127.0.0.1:$port
wait_http "$url/" $wait_up || { echo "run.sh: $target did not answer on $url; see $srv/server.log" >&2; exit 1; }
echo "$target: $version on $url (pid $(cat "$srv/pid"))"

# ---- tempest.conf: network only; the extensions the target itself lists ----
token=$(curl -sf -D - -o /dev/null -H 'Content-Type: application/json' "$KS/auth/tokens" -d '{"auth":{"identity":{"methods":["password"],
  "password":{"user":{"name":"admin","domain":{"id":"default"},"password":"'"$ADMIN_PW"'"}}},
  "scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p')
[ -n "$token" ] || { echo "run.sh: no admin token from $KS" >&2; exit 1; }

# ---- neutrino's DHCP agent ----
# The agent process stays in the root namespace (it reaches the server's gRPC
# on 127.0.0.1); the taps of its DHCP ports go into a namespace of its own
# (host_namespace, the "DHCP node"), the other ends into a qdhcp-<network>
# namespace each with a dnsmasq. No L2 agent runs: the taps join no bridge and
# no DHCP packet leaves the node; the server schedules every network with a
# DHCP subnet to this agent (dhcp_agents_per_network = 1) and makes its port.
if [ "$target" = neutrino ]; then
  dhcpns=tdhcp-${state##*.}
  ip netns add "$dhcpns"
  ip -n "$dhcpns" link set lo up
  mkdir -p "$dhcp"; chmod 755 "$dhcp" # dnsmasq reads its files as user dnsmasq
  cat >"$dhcp/dhcp_agent.ini" <<CONF
[DEFAULT]
host = $dhcpns
transport_url = grpc://127.0.0.1:$(sed -n 's/^rpc_bind_port = //p' "$srv/neutron.conf")
state_path = $dhcp
host_namespace = $dhcpns
interface_driver = linuxbridge
CONF
  (cd "$dhcp" && exec setsid "$srv/neutrino" agent dhcp --config-file "$dhcp/dhcp_agent.ini") \
    </dev/null >"$dhcp/agent.log" 2>&1 &
  echo $! >"$dhcp/pid"
  for _ in $(seq 120); do
    curl -sf -H "X-Auth-Token: $token" "$url/v2.0/agents?agent_type=DHCP%20agent&host=$dhcpns&fields=alive" | grep -q '"alive": *true' && break
    sleep 0.5
  done
  curl -sf -H "X-Auth-Token: $token" "$url/v2.0/agents?agent_type=DHCP%20agent&host=$dhcpns&fields=alive" | grep -q '"alive": *true' ||
    { echo "run.sh: the DHCP agent did not register; see $dhcp/agent.log" >&2; exit 1; }
  echo "DHCP agent: host $dhcpns (pid $(cat "$dhcp/pid"), taps in netns $dhcpns, log $dhcp/agent.log)"
fi
extensions=$(curl -sf -H "X-Auth-Token: $token" "$url/v2.0/extensions" |
  $PY -c 'import json,sys; print(",".join(sorted(e["alias"] for e in json.load(sys.stdin)["extensions"])))')
[ -n "$extensions" ] || { echo "run.sh: $url/v2.0/extensions listed nothing" >&2; exit 1; }
echo "$extensions" | tr , '\n' >"$state/results/extensions.txt"
echo "$target lists $(wc -l <"$state/results/extensions.txt") extensions (results/extensions.txt)"

# The external network the router and floating-IP tests use (public_network_id):
# a flat network on physnet "public" with a subnet from the benchmarking range.
# API only: no agent carries traffic in this run.
api() { curl -sf -X "$1" -H "X-Auth-Token: $token" -H 'Content-Type: application/json' "$url/v2.0/$2" ${3:+-d "$3"}; }
public=$(api POST networks '{"network":{"name":"public","router:external":true,"provider:network_type":"flat","provider:physical_network":"public"}}' |
  $PY -c 'import json,sys; print(json.load(sys.stdin)["network"]["id"])') ||
  { echo "run.sh: $target refused the external network" >&2; exit 1; }
api POST subnets '{"subnet":{"name":"public-subnet","network_id":"'"$public"'","ip_version":4,"cidr":"198.18.100.0/24","enable_dhcp":false}}' >/dev/null ||
  { echo "run.sh: $target refused the external subnet" >&2; exit 1; }
echo "external network public: $public (198.18.100.0/24)"

ws=$state/ws
# a workspace's name must be new in ~/.tempest/workspace.yaml; cleanup unregisters it
wsname=$(basename "$state")
(cd "$state" && tempest init --name "$wsname" "$ws" >/dev/null)
cat >"$ws/etc/tempest.conf" <<CONF
[DEFAULT]
log_file = tempest.log
[oslo_concurrency]
lock_path = $ws/lock
[auth]
# Tempest makes a project and user per test class, as admin
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = admin
admin_password = $ADMIN_PW
admin_project_name = admin
admin_domain_name = Default
default_credentials_domain_name = Default
[identity]
uri_v3 = $KS
auth_version = v3
region = RegionOne
[identity-feature-enabled]
api_v2 = false
[network]
region = $region
catalog_type = network
endpoint_type = publicURL
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_network_v6_cidr = 2001:db8::/48
project_network_v6_mask_bits = 64
project_networks_reachable = false
public_network_id = $public
floating_network_name = public
shared_physical_network = false
[network-feature-enabled]
api_extensions = $extensions
ipv6 = true
ipv6_subnet_attributes = true
[service_available]
neutron = true
nova = false
glance = false
cinder = false
swift = false
[validation]
run_validation = false
CONF
cp "$ws/etc/tempest.conf" "$state/results/"

# ---- run ----
if [ $fast = 1 ]; then
  grep -v '^#' "$here/fast.txt" | sed '/^$/d' >"$state/results/fast-list.txt"
  selection=(--include-list "$state/results/fast-list.txt")
  expect=${expect:-$here/fast.txt}
  what="fast subset ($(wc -l <"$state/results/fast-list.txt") tests, fast.txt)"
else
  selection=(--regex "$regex")
  if [ -z "$expect" ] && [ "$target" = neutrino ] && [ "$regex" = '^tempest\.api\.network' ]; then
    expect=$here/passing.txt
  fi
  what="--regex '$regex'"
fi
[ -z "$expect" ] || what="$what, expecting $(grep -v '^#' "$expect" | grep -c .) to pass ($(basename "$expect"))"
echo "tempest $(dpkg-query -W -f='${Version}' tempest): $what, concurrency ${CONCURRENCY:-2}; load: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
(cd "$ws" && PYTHONPATH=$here/nodelay OS_LOG_CAPTURE=1 exec timeout "${TEMPEST_TIMEOUT:-3600}" \
  tempest run "${selection[@]}" --concurrency "${CONCURRENCY:-2}") >"$state/results/run.log" 2>&1 &
tempest_pid=$!
rc=0
wait "$tempest_pid" || rc=$?
tempest_pid=
(cd "$ws" && stestr last --subunit) >"$state/results/results.subunit" 2>/dev/null || true
[ -f "$ws/tempest.log" ] && gzip -c "$ws/tempest.log" >"$state/results/tempest.log.gz"
echo "tempest took $(( $(date +%s) - start )) s (exit $rc); load: $(cut -d' ' -f1-3 /proc/loadavg)"
set +e
$PY "$here/summarize.py" "$state/results/results.subunit" $expect | tee "$state/results/summary.txt"
sum=${PIPESTATUS[0]}
set -e
if ! grep -q '^run [1-9]' "$state/results/summary.txt"; then
  echo "run.sh: tempest ran no test; see $state/results/run.log" >&2; tail -20 "$state/results/run.log" >&2; exit 1
fi
exit "$sum"
}
main "$@"
