#!/usr/bin/env bash
# Starts (start DIR) or stops (stop DIR) a private PostgreSQL and MariaDB on
# 127.0.0.1 for the test run, with data under DIR. `start` prints the
# environment the tests read (NEUTRINO_TEST_POSTGRES, NEUTRINO_TEST_MYSQL).
# MariaDB listens on 3306 so the seed's sql_connection works unchanged.
set -euo pipefail
cmd=$1 dir=$2
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
PGPORT=${NEUTRINO_PGPORT:-54320}
MYPORT=${NEUTRINO_MYPORT:-3306}

start() {
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
     --max-connections=400 --innodb-flush-log-at-trx-commit=2 --log-error="$dir/my/log") </dev/null >/dev/null 2>&1 &
  for _ in $(seq 60); do
    mariadb --no-defaults -S "$dir/my/sock" -uroot -e 'select 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
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

stop() {
  if [ -f "$dir/pg/data/postmaster.pid" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null || true
  fi
  if [ -f "$dir/my/pid" ]; then
    pid=$(cat "$dir/my/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
