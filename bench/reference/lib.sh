# Shared by install.sh, up.sh, down.sh and agents.sh (sourced, not run).
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

log() { echo "[bench] $*" >&2; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# stoppid PID [SECONDS]: TERM, wait up to SECONDS (default 30), then KILL.
stoppid() { local p=$1 t=${2:-30} i; kill "$p" 2>/dev/null || return 0
  for i in $(seq $((t*4))); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.25; done
  log "pid $p ignored TERM for $t s; KILL"; kill -9 "$p" 2>/dev/null; }
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
