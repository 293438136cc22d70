#!/bin/bash
# Installs (when missing) what the side-by-side bench needs and prepares its
# private state: the Debian packages of the real Neutron 2023.1 (Antelope) and
# its RabbitMQ/MariaDB, a MariaDB datadir (databases neutron + neutrino) and a
# PostgreSQL cluster. Idempotent; run as root. Leaves nothing running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }

PKGS="neutron-server neutron-openvswitch-agent python3-neutron python3-pymysql rabbitmq-server
 mariadb-server mariadb-client postgresql openvswitch-switch curl iproute2 util-linux procps"
missing=""
for p in $PKGS; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "installing:$missing"
  created=0
  # Debian would start every service it installs; we start only what we need, ourselves.
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; created=1; fi
  trap '[ $created = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  for p in $missing; do
    c=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -z "$c" ] || [ "$c" = "(none)" ]; then apt-get update -q; break; fi
  done
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
setup_dirs

if [ ! -d $B/mysql/mysql ]; then
  log "initialising MariaDB datadir $B/mysql"
  mkdir -p $B/mysql; chown mysql:mysql $B/mysql
  mariadb-install-db --defaults-file=$ETC/my.cnf --user=mysql --datadir=$B/mysql \
    --auth-root-authentication-method=socket --skip-test-db >$L/mysql-install.log 2>&1
fi
if [ ! -f $B/pg/data/PG_VERSION ]; then
  log "initialising PostgreSQL cluster $B/pg/data"
  mkdir -p $B/pg; chown postgres:postgres $B/pg
  runuser -u postgres -- "$PGBIN/initdb" -D $B/pg/data -U postgres --auth=trust >$L/pg-init.log 2>&1
fi
log "install: ok"
