#!/bin/bash
# Builds the listing fixture for the REAL Neutron once and caches it as a SQL dump:
# networks bench-list-1000 (subnet 10.200.0.0/16, 1,000 ports) and bench-list-10000
# (10.201.0.0/16, 10,000 ports) on a fresh database. Ports are created through
# Neutron's own API (bulk POST /v2.0/ports, 100 ports per request): all 1,000 of the
# first network and the first API_PORTS (default 1,000) of the second; the rest of the
# second is copied row for row from one of those by neutron-clone.sql.
# Why: Neutron creates ~10 ports/s here in bulk when the machine is idle and ~1.5/s
# when it is shared, so 11,000 ports through the API take 20 min to 2 h - too long to
# repeat in every compare run. `up.sh neutron` with NEUTRON_DB_DUMP=<dump> loads the
# dump into the fresh database before neutron-server starts.
# Output: /var/lib/neutrino-bench/fixture/neutron-list.sql.gz
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OUT=$B/fixture/neutron-list.sql.gz; mkdir -p $B/fixture
"$HERE/down.sh" neutron; "$HERE/up.sh" neutron
H='Content-Type: application/json'; EP=$NEUTRON_URL
mk() { # name cidr count
  local net; net=$(curl -sf -H "$H" -X POST $EP/v2.0/networks -d "{\"network\":{\"name\":\"$1\"}}" | python3 -c 'import sys,json;print(json.load(sys.stdin)["network"]["id"])')
  curl -sf -o /dev/null -H "$H" -X POST $EP/v2.0/subnets -d "{\"subnet\":{\"network_id\":\"$net\",\"cidr\":\"$2\",\"ip_version\":4}}"
  local i=0
  while [ $i -lt $3 ]; do
    python3 -c "import json,sys;print(json.dumps({'ports':[{'network_id':'$net','name':'list-%d'%k} for k in range($i,min($i+100,$3))]}))" >$B/fixture/bulk.json
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "$H" -X POST $EP/v2.0/ports -d @$B/fixture/bulk.json)
    [ "$code" = 201 ] || { log "bulk create at $i: HTTP $code"; exit 1; }
    i=$((i+100)); [ $((i % 1000)) = 0 ] && log "$1: $i ports"
  done
}
S=$(date +%s)
mk bench-list-1000 10.200.0.0/16 1000
mk bench-list-10000 10.201.0.0/16 ${API_PORTS:-1000}
log "created $((1000 + ${API_PORTS:-1000})) ports through the API in $(( $(date +%s) - S )) s"
"$HERE/down.sh" neutron
clone_to() { { echo "SET @net = '$1', @target = $2;"; cat "$HERE/neutron-clone.sql"; } | $MY neutron; }
clone_to bench-list-10000 10000
mariadb-dump --no-defaults --socket=$R/mysqld.sock -uroot --single-transaction neutron | gzip >$OUT.tmp && mv $OUT.tmp $OUT
log "fixture: $OUT"
