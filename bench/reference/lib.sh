# Shared by install.sh, up.sh, down.sh and agents.sh, and by the agent
# benches bench/dhcp/run.sh and bench/l3/run.sh (sourced, not run).
# Everything the bench starts lives under these dirs; every process it starts
# writes a pid file in $R and is stopped by that pid only.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
R=/run/neutrino-bench          # pid files, sockets, the live copy of etc/
L=/var/log/neutrino-bench      # logs
B=/var/lib/neutrino-bench      # datadirs, state, the built neutrino binary
ETC=$R/etc
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
MY="mariadb --no-defaults --socket=$R/mysqld.sock -uroot"
PGPORT=54330
NEUTRON_URL=http://127.0.0.1:9796
# neutrino's API and gRPC ports per database (etc/neutrino-db-*.conf)
neutrino_port() { case $1 in mariadb) echo 9896;; sqlite) echo 9886;; postgres) echo 9876;; esac; }

log() { echo "[bench $(date +%T)] $*" >&2; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# stoppid PID [SECONDS]: TERM, wait up to SECONDS (default 30), then KILL.
stoppid() { local p=$1 t=${2:-30} i; kill "$p" 2>/dev/null || return 0
  for i in $(seq $((t*4))); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.25; done
  log "pid $p ignored TERM for $t s; KILL"; kill -9 "$p" 2>/dev/null || true; }
stopfile() { local f=$R/$1.pid; [ -f "$f" ] || return 0
  local p; p=$(cat "$f"); if kill -0 "$p" 2>/dev/null; then stoppid "$p"; log "stopped $1 (pid $p)"; fi; rm -f "$f"; }
waittcp() { local port=$1 n=${2:-60} i; for i in $(seq $((n*2))); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0; sleep 0.5; done; return 1; }
waithttp() { local url=$1 n=${2:-60} i; for i in $(seq $((n*2))); do curl -sf -o /dev/null "$url" && return 0; sleep 0.5; done; return 1; }

setup_dirs() {
  mkdir -p $R $L $B $B/neutron/lock $B/neutrino $B/bin $L/rabbitmq $L/postgres $B/rabbitmq/mnesia
  chmod 1777 $R  # mysql, postgres and rabbitmq write their pid files/sockets here
  chown mysql:mysql $L; chown -R rabbitmq:rabbitmq $L/rabbitmq $B/rabbitmq; chown postgres:postgres $L/postgres
  mkdir -p $ETC; cp -a "$HERE"/etc/. $ETC/; chmod -R a+rX $ETC
}

start_mariadb() {
  alive $R/mysqld.pid && return 0
  (cd / && exec setsid mariadbd --defaults-file=$ETC/my.cnf) >/dev/null 2>&1 </dev/null &
  local i; for i in $(seq 120); do $MY -e 'select 1' >/dev/null 2>&1 && return 0; sleep 0.5; done
  log "MariaDB did not start; see $L/mysqld.err"; return 1
}
stop_mariadb() {
  alive $R/mysqld.pid || { rm -f $R/mysqld.pid; return 0; }
  local p; p=$(cat $R/mysqld.pid); stoppid "$p"; log "stopped mariadb (pid $p)"; rm -f $R/mysqld.pid
}

start_rabbit() {
  alive $R/rabbitmq.pid && return 0
  (cd / && exec setsid su rabbitmq -s /bin/sh -c ". $ETC/rabbitmq-env.sh; exec /usr/lib/rabbitmq/bin/rabbitmq-server") \
    >$L/rabbitmq-stdout.log 2>&1 </dev/null &
  waittcp 5673 90 || { log "RabbitMQ did not start; see $L/rabbitmq-stdout.log"; return 1; }
}
stop_rabbit() {
  stopfile rabbitmq
  # The epmd that our node started listens on our own port 4370 (nobody else uses it).
  local ep; ep=$(ss -ltnpH 'sport = :4370' 2>/dev/null | grep -o 'epmd",pid=[0-9]*' | head -1 | cut -d= -f2)
  [ -n "$ep" ] && { kill "$ep"; log "stopped epmd (pid $ep)"; }
  return 0
}

start_postgres() {
  [ -f $B/pg/data/postmaster.pid ] && kill -0 "$(head -1 $B/pg/data/postmaster.pid)" 2>/dev/null && return 0
  runuser -u postgres -- "$PGBIN/pg_ctl" -D $B/pg/data -l $L/postgres/postgres.log -w \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $R -c max_connections=300" start >/dev/null
}
stop_postgres() {
  [ -f $B/pg/data/postmaster.pid ] || return 0
  runuser -u postgres -- "$PGBIN/pg_ctl" -D $B/pg/data -m fast -w stop >/dev/null && log "stopped postgres"
}

# ---- The agent benches (bench/dhcp, bench/l3) ----
# Each runs an agent of each system in a network namespace of its own ($NS,
# the node), reaching its server through a socat relay over a unix socket
# in its own run directory ($R, set by the bench after sourcing this); the
# pids they start go into the array PIDS, which they stop at the end.

now() { date +%s.%N; }
api() { # EP METHOD PATH [BODY] -> the response body (fails on an HTTP error)
  curl -sf -H 'Content-Type: application/json' -X "$2" "$1$3" ${4:+-d "$4"}
}
jget() { python3 -c "import sys,json;print(json.load(sys.stdin)$1)"; }

# relay PORT: 127.0.0.1:PORT inside $NS reaches the same port in the root
# namespace (no link or address between them).
relay() {
  local port=$1
  (cd / && exec setsid socat UNIX-LISTEN:$R/relay-$port.sock,fork,unlink-early TCP:127.0.0.1:$port) </dev/null >/dev/null 2>&1 &
  PIDS+=($!)
  sleep 0.2
  (cd / && exec setsid ip netns exec $NS socat TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:$R/relay-$port.sock) </dev/null >/dev/null 2>&1 &
  PIDS+=($!)
}

# start_in PIDFILE LOG CMD...: CMD in $NS's network, detached, appending
# to LOG; its pid in PIDFILE.
start_in() {
  local pidf=$1 out=$2; shift 2
  (cd / && exec setsid nsenter --net=/run/netns/$NS sh -c 'echo $$ >"$0"; exec "$@"' "$pidf" "$@") >>$out 2>&1 </dev/null &
}

# stop_privsep PATTERN: stops the privsep helpers (Neutron's agents start
# them as root) whose command line has PATTERN, by pid.
stop_privsep() {
  local p
  for p in $(grep -l "$1" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    [ "$p" != $$ ] && grep -qa privsep /proc/$p/cmdline 2>/dev/null && stoppid "$p" 10
  done
  return 0
}

# neutrino_server BIN DIR PORT RPC [EXTRA]: a fresh SQLite database in DIR
# and BIN's server (noauth, the shared ML2 settings of etc/ml2_conf.ini, no
# quotas) on 127.0.0.1:PORT, agents' gRPC on RPC; EXTRA are more [DEFAULT]
# lines. Sets SERVER_PID (also in PIDS); fails if the API does not answer.
neutrino_server() {
  local bin=$1 dir=$2 port=$3 rpc=$4 extra=${5:-} i
  cat >$dir/server.conf <<INI
[DEFAULT]
auth_strategy = noauth
bind_host = 127.0.0.1
bind_port = $port
rpc_bind_host = 127.0.0.1
rpc_bind_port = $rpc
state_path = $dir
$extra
[database]
connection = sqlite:///$dir/neutrino.db
[quotas]
quota_network = -1
quota_subnet = -1
quota_port = -1
quota_router = -1
quota_floatingip = -1
INI
  cat "$HERE"/etc/ml2_conf.ini >>$dir/server.conf
  rm -f $dir/neutrino.db
  $bin db upgrade head --config-file $dir/server.conf >$dir/db.log 2>&1
  (cd / && exec setsid $bin server --config-file $dir/server.conf) >$dir/server.log 2>&1 </dev/null &
  SERVER_PID=$!; PIDS+=($SERVER_PID)
  for i in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$port/v2.0/networks && return 0; sleep 0.1; done
  log "neutrino server on $port did not answer; see $dir/server.log"; return 1
}

# neutrino_agent_conf DIR HOST RPC: DIR/agent.conf for a neutrino agent
# (Linux bridge interface driver) of HOST.
neutrino_agent_conf() {
  cat >$1/agent.conf <<INI
[DEFAULT]
host = $2
transport_url = grpc://127.0.0.1:$3
state_path = $1
interface_driver = linuxbridge
[agent]
report_interval = 30
INI
}

# neutron_agent_ini FILE DIR HOST LOG [EXTRA]: a Neutron agent's ini (its
# state and locks in DIR, RabbitMQ through the relay, no root helper: the
# bench runs as root); EXTRA are more [DEFAULT] lines.
neutron_agent_ini() {
  cat >$1 <<INI
[DEFAULT]
host = $3
transport_url = rabbit://guest:guest@127.0.0.1:5672/
state_path = $2
interface_driver = linuxbridge
${5:-}
log_file = $4
log_dir =
debug = False
[agent]
root_helper =
report_interval = 30
[oslo_concurrency]
lock_path = $2/lock
INI
}

# agent_id EP HOST TYPE SECONDS: prints the id of HOST's agent of TYPE
# once the server lists it alive; fails after SECONDS.
agent_id() {
  local end=$((SECONDS + $4)) id
  while [ $SECONDS -lt $end ]; do
    id=$(api $1 GET "/v2.0/agents?host=$2&agent_type=$(echo "$3" | sed 's/ /%20/g')&fields=id&fields=alive" |
      python3 -c 'import sys,json;a=json.load(sys.stdin)["agents"];print(a[0]["id"] if a and a[0]["alive"] else "")') || true
    [ -n "$id" ] && { echo $id; return 0; }
    sleep 0.1
  done
  return 1
}

# purge_networks EP PREFIX: deletes the networks named PREFIX* and their
# ports (what an earlier, interrupted run left).
purge_networks() {
  local ep=$1 id p
  for id in $(api $ep GET "/v2.0/networks?fields=id&fields=name" |
      python3 -c 'import sys,json;print(" ".join(n["id"] for n in json.load(sys.stdin)["networks"] if n["name"].startswith(sys.argv[1])))' "$2"); do
    for p in $(api $ep GET "/v2.0/ports?network_id=$id&fields=id" | python3 -c 'import sys,json;print(" ".join(p["id"] for p in json.load(sys.stdin)["ports"]))'); do
      api $ep DELETE /v2.0/ports/$p >/dev/null || true; done
    api $ep DELETE /v2.0/networks/$id >/dev/null || true
  done
}
