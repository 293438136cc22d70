#!/bin/bash
# Stops what up.sh started, by pid file only:
#   down.sh neutron | neutrino   one server
#   down.sh all                  both servers, the bench agents, RabbitMQ (+ its epmd), MariaDB, PostgreSQL
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case ${1:-all} in
  neutron) stopfile neutron-server ;;
  neutrino) stopfile neutrino-server ;;
  all)
    [ -x "$HERE/agents.sh" ] && "$HERE/agents.sh" down >/dev/null 2>&1
    stopfile neutron-server; stopfile neutrino-server
    stop_rabbit; stop_mariadb; stop_postgres ;;
  *) echo "usage: down.sh neutron|neutrino|all" >&2; exit 2 ;;
esac
exit 0
