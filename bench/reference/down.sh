#!/bin/bash
# Stops what up.sh started, by pid file only:
#   down.sh neutron | neutrino-mariadb | neutrino-sqlite | neutrino-postgres   one server
#   down.sh neutrino             every neutrino server
#   down.sh all                  both servers, the bench agents, RabbitMQ (+ its epmd), MariaDB, PostgreSQL
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case ${1:-all} in
  neutron) stopfile neutron-server ;;
  neutrino-mariadb|neutrino-sqlite|neutrino-postgres) stopfile neutrino-server-${1#neutrino-} ;;
  neutrino) for d in mariadb sqlite postgres; do stopfile neutrino-server-$d; done ;;
  all)
    [ -x "$HERE/agents.sh" ] && "$HERE/agents.sh" down >/dev/null 2>&1
    stopfile neutron-server; for d in mariadb sqlite postgres; do stopfile neutrino-server-$d; done
    stop_rabbit; stop_mariadb; stop_postgres ;;
  *) echo "usage: down.sh neutron|neutrino[-mariadb|-sqlite|-postgres]|all" >&2; exit 2 ;;
esac
exit 0
