#!/usr/bin/env bash
# Starts (start DIR) or stops (stop DIR) a private PostgreSQL and MariaDB on
# 127.0.0.1 for the test run, with data under DIR. `start` prints the
# environment the tests read (NEUTRINO_TEST_POSTGRES, NEUTRINO_TEST_MYSQL).
# `reap` stops and removes the servers of runs whose scripts/test.sh is gone
# (DIR/owner holds its PID), as a killed run leaves them.
#
# Ports: PostgreSQL 54320 and MariaDB 3306 (so the seed's sql_connection
# works unchanged) when free; when taken (an operator's server, another
# run), the next free port above. A port set in NEUTRINO_PGPORT or
# NEUTRINO_MYPORT must be free, or start fails saying which.
set -euo pipefail
cmd=${1:-} dir=${2:-}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)

listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# port NAME DEFAULT EXPLICIT: the port to use, or a clear failure.
port() {
  local name=$1 p=$2 explicit=$3
  if [ -n "$explicit" ]; then
    listening "$explicit" && { echo "testdb: $name port $explicit (set in the environment) is taken by another server" >&2; return 1; }
    echo "$explicit"; return
  fi
  for q in $(seq "$p" $((p + 50))); do
    listening "$q" || { echo "$q"; return; }
  done
  echo "testdb: no free $name port in $p-$((p + 50))" >&2; return 1
}

start() {
  [ -n "$PGBIN" ] || { echo "testdb: PostgreSQL is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
  PGPORT=$(port PostgreSQL 54320 "${NEUTRINO_PGPORT:-}")
  MYPORT=$(port MariaDB 3306 "${NEUTRINO_MYPORT:-}")
  [ "$MYPORT" = 3306 ] || echo "testdb: 3306 is taken; MariaDB for the tests listens on $MYPORT" >&2
  mkdir -p "$dir"
  chmod 755 "$dir"
  # PostgreSQL refuses to run as root.
  mkdir -p "$dir/pg" && chown postgres:postgres "$dir/pg"
  runuser -u postgres -- "$PGBIN/initdb" -D "$dir/pg/data" -U postgres --auth=trust >"$dir/pg-init.log" 2>&1
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $dir/pg -c max_connections=300 -c fsync=off" start >/dev/null
  "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE neutrino_test" >/dev/null

  mkdir -p "$dir/my" && chown mysql:mysql "$dir/my"
  mariadb-install-db --no-defaults --user=mysql --datadir="$dir/my/data" \
    --auth-root-authentication-method=normal --skip-test-db >"$dir/my-init.log" 2>&1
  (cd / && exec setsid mariadbd --no-defaults --user=mysql --datadir="$dir/my/data" \
     --socket="$dir/my/sock" --pid-file="$dir/my/pid" --bind-address=127.0.0.1 --port="$MYPORT" \
     --max-connections=400 --innodb-flush-log-at-trx-commit=2 --log-error="$dir/my/log") </dev/null >"$dir/my/out" 2>&1 &
  for _ in $(seq 60); do
    mariadb --no-defaults -S "$dir/my/sock" -uroot -e 'select 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
  mariadb --no-defaults -S "$dir/my/sock" -uroot -e 'select 1' >/dev/null 2>&1 ||
    { echo "testdb: MariaDB did not start on 127.0.0.1:$MYPORT:" >&2; tail -n 20 "$dir/my/out" "$dir/my/log" >&2; exit 1; }
  mariadb --no-defaults -S "$dir/my/sock" -uroot <<'SQL'
CREATE DATABASE neutrino_test CHARACTER SET utf8mb4;
CREATE USER 'neutrino'@'127.0.0.1' IDENTIFIED BY 'neutrino';
GRANT ALL ON *.* TO 'neutrino'@'127.0.0.1' WITH GRANT OPTION;
-- the seed's own database and user (seed/etc/ml2_conf.ini)
CREATE DATABASE neutron_ml2 CHARACTER SET utf8;
CREATE USER 'neutron'@'127.0.0.1' IDENTIFIED BY '83105f1d6ded47cc';
GRANT ALL ON neutron_ml2.* TO 'neutron'@'127.0.0.1';
SQL
  echo "export NEUTRINO_TEST_POSTGRES='postgresql://postgres@127.0.0.1:$PGPORT/neutrino_test?sslmode=disable'"
  echo "export NEUTRINO_TEST_MYSQL='mysql://neutrino:neutrino@127.0.0.1:$MYPORT/neutrino_test'"
}

# ours PIDFILE DATADIR: the PID in PIDFILE when that process still runs on
# DATADIR (a PID from a stale file may belong to anyone by now).
ours() {
  local pid
  pid=$(head -n1 "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$2" && echo "$pid"
}

stop() {
  if [ -n "$PGBIN" ] && ours "$dir/pg/data/postmaster.pid" "$dir/pg/data" >/dev/null; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null || true
  fi
  local pid
  if pid=$(ours "$dir/my/pid" "$dir/my/data"); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
}

reap() {
  local d owner
  for d in /tmp/neutrino-testdb.*; do
    [ -f "$d/owner" ] || continue # not made by scripts/test.sh: not ours to judge
    owner=$(cat "$d/owner")
    if [ -n "$owner" ] && tr '\0' ' ' 2>/dev/null <"/proc/$owner/cmdline" | grep -q 'scripts/test.sh'; then
      continue # its run is still going
    fi
    echo "testdb: stopping the servers of a finished run in $d" >&2
    dir=$d stop
    rm -rf "$d"
  done
}

case $cmd in
  start) [ -n "$dir" ] || { echo "usage: $0 start DIR" >&2; exit 2; }; start ;;
  stop) [ -n "$dir" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop ;;
  reap) reap ;;
  *) echo "usage: $0 start|stop DIR, or $0 reap" >&2; exit 2 ;;
esac
