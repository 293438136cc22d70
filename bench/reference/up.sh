#!/bin/bash
# Starts one system of the side-by-side bench on 127.0.0.1 with a FRESH database:
#   up.sh neutron            real neutron-server (Debian 2:21.0.0) on :9796, MariaDB :3307, RabbitMQ :5673
#   up.sh neutrino-mariadb   neutrino server on :9896 (gRPC :9897), same MariaDB
#   up.sh neutrino-sqlite    neutrino server on :9886 (gRPC :9887), SQLite file
#   up.sh neutrino-postgres  neutrino server on :9876 (gRPC :9877), PostgreSQL :54330
# All four may run at once (the compare run interleaves them).
# Both servers get the same ML2 settings (etc/ml2_conf.ini: vxlan, vni_ranges 1001:2000,
# openvswitch,l2population) and auth_strategy = noauth. Installs what is missing first.
# The server's pid is in /run/neutrino-bench/<neutron-server|neutrino-server-DB>.pid. Stop with down.sh.
# NEUTRON_DB_DUMP=<file.sql[.gz]> loads that dump (neutron-fixture.sh) into Neutron's fresh database.
# NEUTRINO_BIN=<path> uses that binary instead of building ./cmd/neutrino.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
SYS=${1:?usage: up.sh neutron|neutrino-mariadb|neutrino-sqlite|neutrino-postgres}
"$HERE/install.sh" >/dev/null

recreate_mysql_db() { # db user password
  $MY <<SQL
DROP DATABASE IF EXISTS $1;
CREATE DATABASE $1 CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS '$2'@'127.0.0.1' IDENTIFIED BY '$3';
GRANT ALL PRIVILEGES ON $1.* TO '$2'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
}

case $SYS in
neutron)
  alive $R/neutron-server.pid && { log "neutron-server already running (pid $(cat $R/neutron-server.pid))"; exit 0; }
  start_mariadb; start_rabbit
  recreate_mysql_db neutron neutron neutron
  if [ -n "${NEUTRON_DB_DUMP:-}" ]; then # a fixture made by neutron-fixture.sh (Neutron's own rows)
    zcat -f "$NEUTRON_DB_DUMP" | $MY neutron
  fi
  ARGS="--config-file $ETC/neutron.conf --config-file $ETC/ml2_conf.ini"
  neutron-db-manage $ARGS upgrade head >$L/neutron-db-manage.log 2>&1 || { log "neutron-db-manage failed; see $L/neutron-db-manage.log"; exit 1; }
  (cd / && exec setsid sh -c "echo \$\$ > $R/neutron-server.pid; exec neutron-server $ARGS") >$L/neutron-server.stdout 2>&1 </dev/null &
  waithttp $NEUTRON_URL/v2.0/networks 90 || { log "neutron-server did not answer; see $L/neutron-server.log"; exit 1; }
  log "neutron up on $NEUTRON_URL (pid $(cat $R/neutron-server.pid))"
  ;;
neutrino-mariadb|neutrino-sqlite|neutrino-postgres)
  DB=${SYS#neutrino-}; PIDF=$R/neutrino-server-$DB.pid; URL=http://127.0.0.1:$(neutrino_port $DB)
  alive $PIDF && { log "neutrino server ($DB) already running (pid $(cat $PIDF))"; exit 0; }
  BIN=${NEUTRINO_BIN:-$B/bin/neutrino}
  if [ -z "${NEUTRINO_BIN:-}" ]; then (cd "$REPO" && go build -o "$BIN" ./cmd/neutrino); fi
  case $DB in
    mariadb) start_mariadb; recreate_mysql_db neutrino neutrino neutrino ;;
    postgres) start_postgres
      "$PGBIN/psql" -h 127.0.0.1 -p $PGPORT -U postgres -qc "DROP DATABASE IF EXISTS neutrino" >/dev/null
      "$PGBIN/psql" -h 127.0.0.1 -p $PGPORT -U postgres -qc "CREATE DATABASE neutrino" >/dev/null ;;
    sqlite) rm -f $B/neutrino/neutrino.sqlite* ;;
  esac
  ARGS="--config-file $ETC/neutrino.conf --config-file $ETC/ml2_conf.ini --config-file $ETC/neutrino-db-$DB.conf"
  "$BIN" db upgrade head $ARGS >$L/neutrino-db-upgrade.log 2>&1 || { log "neutrino db upgrade failed; see $L/neutrino-db-upgrade.log"; exit 1; }
  (cd / && exec setsid sh -c "echo \$\$ > $PIDF; exec $BIN server $ARGS") >$L/neutrino-server-$DB.log 2>&1 </dev/null &
  waithttp $URL/v2.0/networks 60 || { log "neutrino server did not answer; see $L/neutrino-server-$DB.log"; exit 1; }
  log "neutrino ($DB) up on $URL (pid $(cat $PIDF))"
  ;;
*) echo "unknown system $SYS" >&2; exit 2 ;;
esac
